-- Which Kafka record (topic:partition:offset) made each decision, so a redelivery of that record
-- publishes the recorded outcome again while a second record about the same message (a repeated
-- webhook) publishes nothing. NULL on rows from before: treated as a redelivery (never lost).
ALTER TABLE inbound_decisions ADD COLUMN source text;

-- A delivery report's record, and the status change it caused (if any), republished on redelivery.
ALTER TABLE delivery_reports ADD COLUMN source text;
ALTER TABLE delivery_reports ADD COLUMN moved_to text;
ALTER TABLE delivery_reports ADD COLUMN moved_error_code integer;

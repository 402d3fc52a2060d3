-- Which Kafka record (topic:partition:offset) created each outbound message, so a redelivery of that
-- record (its output may not have been committed) is told apart from a second SendMessage for the same
-- message (a repeat, which publishes nothing); NULL for rows from before. accepted_status is the status
-- Twilio's create answered with, so a republished OutboundMessageAccepted says what the first one said.
ALTER TABLE outbound_messages ADD COLUMN source text;
ALTER TABLE outbound_messages ADD COLUMN accepted_status text;

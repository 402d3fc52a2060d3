-- An outbound message is updated several times after its insert (accepted, then each delivery status):
-- room left on each page lets those updates stay on the page (HOT) without touching the indexes.
ALTER TABLE outbound_messages SET (fillfactor = 80);

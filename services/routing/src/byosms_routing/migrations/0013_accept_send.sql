-- Accepting a send in one round trip (outbound.accept_send): take the MessageSid's lock (the one the
-- delivery-report path takes), then, in statements that see everything committed before the lock was
-- had, read the reports kept for it and, when there are none, record the acceptance. With reports
-- kept the function changes nothing and returns them: the caller folds them in its own transaction.
-- accepted: true recorded, false the message was not waiting for its acceptance, NULL reports kept.
CREATE FUNCTION accept_send(
    p_organization_id text, p_message_id text, p_message_sid text, p_twilio_status text, p_integration_id text
) RETURNS TABLE (accepted boolean, kept integer)
LANGUAGE plpgsql VOLATILE
SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('routing.sid:' || p_message_sid, 0));
    SELECT count(*) INTO kept FROM delivery_reports
    WHERE message_sid = p_message_sid AND organization_id = p_organization_id
      AND integration_id = p_integration_id;
    IF kept > 0 THEN
        accepted := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE outbound_messages
    SET state = 'accepted', message_sid = p_message_sid, twilio_status = p_twilio_status,
        accepted_status = p_twilio_status, code = NULL, params = '{}', error_code = NULL, updated_at = now()
    WHERE organization_id = p_organization_id AND message_id = p_message_id
      AND (state = 'sending' OR (state = 'failed' AND code = 'outcome_unknown'));
    accepted := FOUND;
    RETURN NEXT;
END;
$$;

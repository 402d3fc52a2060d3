"""Classified, coded errors and their user-facing messages in English and German.

Exception tree::

    ByosmsError                 stable ``code``, ``retryable``; message rendered at the edge
    ├── InvalidInput            the caller sent something wrong (HTTP 4xx, command rejected)
    ├── NotFound                the thing does not exist for this organization
    ├── Conflict                the state forbids it right now (in progress, taken by another org)
    ├── Forbidden               the caller lacks a permission
    └── VendorError             Twilio said no, or could not be reached

Codes are stable API: clients match on them, never on message text. Every code has an English
and a German message in :data:`CATALOG` (a unit test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from byosms_common.messages import LocalizedText

Language = Literal["en", "de"]


@dataclass(frozen=True, slots=True)
class ErrorText:
    """English and German text of one error code; ``{name}`` placeholders are filled from params."""

    en: str
    de: str
    http_status: int


CATALOG: dict[str, ErrorText] = {
    # The seed's number-import errors (English edition wording; German from the seed article).
    "integration_sender_id_invalid": ErrorText(
        "Please check the integration for BYO Sender ID.",
        "Bitte prüfen Sie die Integration für BYO Sender ID.",
        422,
    ),
    "compliance_missing": ErrorText(
        "Please provide the required compliance keywords and messages for your sender ID.",
        "Bitte geben Sie die erforderlichen Compliance-Schlüsselwörter und Nachrichten für Ihre Sender-ID an.",
        422,
    ),
    "sender_id_type_invalid": ErrorText(
        "Please check your sender ID type.",
        "Bitte überprüfen Sie den Typ Ihrer Absender-ID.",
        422,
    ),
    "sender_id_country_mismatch": ErrorText(
        "Please check your sender ID's country code.",
        "Bitte überprüfen Sie den Ländercode Ihrer Absender-ID.",
        422,
    ),
    "provisioning_in_progress": ErrorText(
        "A provisioning action is already in progress for this phone number.",
        "Für diese Rufnummer ist bereits eine Einrichtungsaktion im Gange.",
        409,
    ),
    "number_not_available": ErrorText(
        "This phone number address is not available for provisioning. "
        "Please choose another phone number and try again.",
        "Diese Rufnummernadresse ist nicht für die Bereitstellung verfügbar. "
        "Bitte wählen Sie eine andere Telefonnummer und versuchen Sie es erneut.",
        409,
    ),
    "number_not_found_at_vendor": ErrorText(
        "This phone number can't be found at the vendor.",
        "Diese Telefonnummer ist beim Verkäufer nicht zu finden.",
        422,
    ),
    "webhook_not_configured": ErrorText(
        "The number's SMS webhook must point at {expected_url} before it can be imported.",
        "Der SMS-Webhook der Nummer muss auf {expected_url} zeigen, bevor sie importiert werden kann.",
        422,
    ),
    "number_webhook_not_configured": ErrorText(
        "The number's SMS webhook must point at {expected_url}; until it does, its inbound SMS do not reach byosms.",
        "Der SMS-Webhook der Nummer muss auf {expected_url} zeigen; bis dahin erreichen ihre eingehenden SMS "
        "byosms nicht.",
        409,
    ),
    "messaging_service_not_deferring": ErrorText(
        "The number belongs to a Twilio Messaging Service whose integration setting is not "
        "\"Defer to sender's webhook\"; change it and set the number's SMS webhook to {expected_url}.",
        "Die Nummer gehört zu einem Twilio Messaging Service, dessen Integrationseinstellung nicht "
        '"Defer to sender\'s webhook" ist; ändern Sie sie und setzen Sie den SMS-Webhook der Nummer auf '
        "{expected_url}.",
        422,
    ),
    "webhook_application_override": ErrorText(
        "The number's SMS is handled by a TwiML App, which overrides its SMS webhook; remove the app "
        "from the number and set the number's SMS webhook to {expected_url}.",
        "Die SMS der Nummer werden von einer TwiML-App verarbeitet, die ihren SMS-Webhook überschreibt; "
        "entfernen Sie die App von der Nummer und setzen Sie den SMS-Webhook der Nummer auf {expected_url}.",
        422,
    ),
    "webhook_method_not_post": ErrorText(
        "The number's SMS webhook must be called with POST: set its URL to {expected_url} and its HTTP "
        "method to POST (our ingress answers other methods with 405, so no message would arrive).",
        "Der SMS-Webhook der Nummer muss mit POST aufgerufen werden: Setzen Sie seine URL auf {expected_url} "
        "und seine HTTP-Methode auf POST (unser Eingang beantwortet andere Methoden mit 405, es käme keine "
        "Nachricht an).",
        422,
    ),
    "conversations_autocreate": ErrorText(
        "Inbound SMS to the number are captured by a Twilio Conversations address configuration with "
        "auto-creation enabled, so no SMS webhook is called; turn auto-creation off for the number's address "
        "(Conversations > Address Configurations) and set the number's SMS webhook to {expected_url}.",
        "Eingehende SMS an die Nummer werden von einer Twilio-Conversations-Adresskonfiguration mit "
        "aktivierter automatischer Erstellung abgefangen, daher wird kein SMS-Webhook aufgerufen; schalten Sie "
        "die automatische Erstellung für die Adresse der Nummer aus (Conversations > Address Configurations) "
        "und setzen Sie den SMS-Webhook der Nummer auf {expected_url}.",
        422,
    ),
    # Webhook health of imported numbers (checks, repair, live path check).
    "webhook_repair_not_supported": ErrorText(
        "byosms does not change Twilio Conversations settings: turn auto-creation off for the number's "
        "address configuration in Twilio, then check the number again.",
        "byosms ändert keine Einstellungen von Twilio Conversations: Schalten Sie die automatische Erstellung "
        "für die Adresskonfiguration der Nummer in Twilio aus und prüfen Sie die Nummer dann erneut.",
        409,
    ),
    "webhook_repair_needs_service_defer": ErrorText(
        "The number's Messaging Service does not defer to the sender's webhook. Changing that affects every "
        'sender of the service; send the request again with "messaging_service_defer": true to allow it.',
        "Der Messaging Service der Nummer verwendet nicht den Webhook des Absenders. Eine Änderung betrifft "
        'alle Absender des Service; senden Sie die Anfrage erneut mit "messaging_service_defer": true, um sie '
        "zu erlauben.",
        409,
    ),
    "webhook_probe_test_phone_required": ErrorText(
        "A test message needs a test phone (test_phone, E.164): Twilio does not send a message from a "
        "number to itself.",
        "Eine Testnachricht braucht ein Testtelefon (test_phone, E.164): Twilio sendet keine Nachricht von "
        "einer Nummer an sich selbst.",
        422,
    ),
    "webhook_probe_one_sender": ErrorText(
        "Give either test_phone or from_number_id: the code comes back from one of them.",
        "Geben Sie entweder test_phone oder from_number_id an: der Code kommt von einem der beiden zurück.",
        422,
    ),
    "webhook_probe_sender_invalid": ErrorText(
        "from_number_id must be another number of this integration that is not removed.",
        "from_number_id muss eine andere, nicht entfernte Nummer dieser Integration sein.",
        422,
    ),
    "webhook_probe_not_returned": ErrorText(
        "The code did not come back to the number at Twilio within {seconds} seconds.",
        "Der Code ist nicht innerhalb von {seconds} Sekunden bei Twilio an der Nummer angekommen.",
        504,
    ),
    "webhook_probe_not_arrived": ErrorText(
        "Twilio received the reply ({message_sid}) but it did not arrive through the regional ingress "
        "within {seconds} seconds.",
        "Twilio hat die Antwort ({message_sid}) erhalten, sie ist aber nicht innerhalb von {seconds} Sekunden "
        "über den regionalen Eingang angekommen.",
        504,
    ),
    "number_already_imported": ErrorText(
        "This phone number is already in your organization's SMS number inventory.",
        "Diese Rufnummer ist bereits im SMS-Nummerninventar Ihrer Organisation.",
        409,
    ),
    "import_timed_out": ErrorText(
        "The import did not finish in time. Please try again.",
        "Der Import wurde nicht rechtzeitig abgeschlossen. Bitte versuchen Sie es erneut.",
        504,
    ),
    "credentials_unreadable": ErrorText(
        "The integration's stored Twilio credentials cannot be read (their encryption key is no longer "
        "available). Please set the integration's Auth Token again, then retry the import.",
        "Die gespeicherten Twilio-Anmeldedaten der Integration können nicht gelesen werden (ihr "
        "Verschlüsselungsschlüssel ist nicht mehr verfügbar). Bitte hinterlegen Sie das Auth Token der "
        "Integration erneut und wiederholen Sie dann den Import.",
        422,
    ),
    # Integrations and credentials.
    "credentials_rejected": ErrorText(
        "Twilio rejected the Account SID or Auth Token: they are wrong, or the account is suspended or "
        "closed. Use the account's primary Auth Token; secondary auth tokens are not supported.",
        "Twilio hat die Account SID oder das Auth Token abgelehnt: Sie sind falsch, oder das Konto ist "
        "gesperrt oder geschlossen. Verwenden Sie das primäre Auth Token des Kontos; sekundäre Auth Tokens "
        "werden nicht unterstützt.",
        422,
    ),
    "account_not_active": ErrorText(
        "The Twilio account is {status}; only active accounts can be connected.",
        "Das Twilio-Konto ist {status}; nur aktive Konten können verbunden werden.",
        422,
    ),
    "vendor_unavailable": ErrorText(
        "Twilio could not be reached or did not answer in time. Please try again later.",
        "Twilio war nicht erreichbar oder hat nicht rechtzeitig geantwortet. Bitte versuchen Sie es später erneut.",
        503,
    ),
    "integration_not_found": ErrorText(
        "The integration does not exist.",
        "Die Integration existiert nicht.",
        404,
    ),
    "integration_no_credentials": ErrorText(
        "Set the integration's Twilio credentials before activating it.",
        "Hinterlegen Sie die Twilio-Anmeldedaten der Integration, bevor Sie sie aktivieren.",
        409,
    ),
    "auth_token_rotation_not_started": ErrorText(
        "The integration has no Auth Token rotation in progress; start one with the new token first.",
        "Für die Integration läuft kein Wechsel des Auth Tokens; starten Sie ihn zuerst mit dem neuen Token.",
        409,
    ),
    "auth_token_rotation_same_token": ErrorText(
        "The new Auth Token is the integration's current token; give the token that is to replace it "
        "(Twilio's secondary token).",
        "Der neue Auth Token ist der aktuelle Token der Integration; geben Sie den Token an, der ihn ersetzen "
        "soll (den sekundären Token bei Twilio).",
        409,
    ),
    "shared_key_not_found": ErrorText(
        "The integration has no webhook SharedKey with the id {key_id}.",
        "Die Integration hat keinen Webhook-SharedKey mit der ID {key_id}.",
        404,
    ),
    "shared_key_is_current": ErrorText(
        "The SharedKey {key_id} is the integration's current key and cannot be retired; set a new shared key "
        "(or credentials without one) instead.",
        "Der SharedKey {key_id} ist der aktuelle Schlüssel der Integration und kann nicht stillgelegt werden; "
        "hinterlegen Sie stattdessen einen neuen Shared Key (oder Anmeldedaten ohne einen).",
        409,
    ),
    "number_not_in_inventory": ErrorText(
        "The number {address} is not in your SMS number inventory.",
        "Die Nummer {address} ist nicht in Ihrem SMS-Nummernbestand.",
        404,
    ),
    "no_route": ErrorText(
        "Inbound messages to this number are discarded: no routing target is set on the number, its integration "
        "or your organization.",
        "Eingehende Nachrichten an diese Nummer werden verworfen: Weder für die Nummer noch für ihre Integration "
        "oder Ihre Organisation ist ein Routing-Ziel festgelegt.",
        409,
    ),
    "version_conflict": ErrorText(
        "The resource was changed by someone else; reload it and try again.",
        "Die Ressource wurde von jemand anderem geändert; laden Sie sie neu und versuchen Sie es erneut.",
        409,
    ),
    "unknown_region": ErrorText(
        "Unknown region {region}.",
        "Unbekannte Region {region}.",
        422,
    ),
    "integration_already_exists": ErrorText(
        "An integration with this id already exists.",
        "Eine Integration mit dieser ID existiert bereits.",
        409,
    ),
    "integration_id_not_accepted": ErrorText(
        "Integration ids are chosen by the service; leave out integration_id (use request_id to make a "
        "create safe to repeat).",
        "Integrations-IDs vergibt der Dienst; lassen Sie integration_id weg (mit request_id lässt sich das "
        "Anlegen gefahrlos wiederholen).",
        422,
    ),
    "sealing_not_configured": ErrorText(
        "This deployment accepts no sealed credentials: no sealing keys are configured. Set credentials "
        "through the admin API instead.",
        "Diese Installation nimmt keine versiegelten Anmeldedaten an: Es sind keine Versiegelungsschlüssel "
        "eingerichtet. Setzen Sie die Anmeldedaten stattdessen über die Admin-API.",
        404,
    ),
    "sealed_credentials_invalid": ErrorText(
        "The sealed credentials could not be opened: seal them with the current public key of "
        "provisioning for this organization, integration and Account SID.",
        "Die versiegelten Anmeldedaten ließen sich nicht öffnen: Versiegeln Sie sie mit dem aktuellen "
        "öffentlichen Schlüssel von provisioning für diese Organisation, Integration und Account SID.",
        422,
    ),
    "vendor_rejected": ErrorText(
        "Twilio refused the request (Twilio error {twilio_code}).",
        "Twilio hat die Anfrage abgelehnt (Twilio-Fehler {twilio_code}).",
        502,
    ),
    "vendor_resource_not_found": ErrorText(
        "Twilio does not know the requested resource in this account.",
        "Twilio kennt die angeforderte Ressource in diesem Konto nicht.",
        422,
    ),
    "webhook_signature_invalid": ErrorText(
        "Twilio webhooks for this integration keep failing signature validation since {since}. Twilio signs "
        "webhooks with the account's primary Auth Token; secondary auth tokens are not supported. If you "
        "rotated or promoted the Auth Token, set the new primary token on the integration.",
        "Twilio-Webhooks dieser Integration bestehen die Signaturprüfung seit {since} nicht. Twilio signiert "
        "Webhooks mit dem primären Auth Token des Kontos; sekundäre Auth Tokens werden nicht unterstützt. "
        "Wenn Sie das Auth Token rotiert oder hochgestuft haben, hinterlegen Sie das neue primäre Token an "
        "der Integration.",
        422,
    ),
    # Sending messages (routing).
    "sender_not_in_inventory": ErrorText(
        "The sender {sender} is not a number in your organization's SMS number inventory.",
        "Der Absender {sender} ist keine Nummer im SMS-Nummerninventar Ihrer Organisation.",
        422,
    ),
    "sender_inactive": ErrorText(
        "The sender {sender} is inactive: the number or its integration is deactivated.",
        "Der Absender {sender} ist inaktiv: Die Nummer oder ihre Integration ist deaktiviert.",
        409,
    ),
    "sender_no_credentials": ErrorText(
        "The integration of the sender {sender} has no Twilio credentials.",
        "Die Integration des Absenders {sender} hat keine Twilio-Anmeldedaten.",
        409,
    ),
    "sender_credentials_unreadable": ErrorText(
        "The stored Twilio credentials of the sender's integration cannot be read (their encryption key is "
        "not available). Please set the integration's Auth Token again.",
        "Die gespeicherten Twilio-Anmeldedaten der Integration des Absenders können nicht gelesen werden (ihr "
        "Verschlüsselungsschlüssel ist nicht verfügbar). Bitte hinterlegen Sie das Auth Token der Integration "
        "erneut.",
        422,
    ),
    "recipient_invalid": ErrorText(
        "The recipient {recipient} is not a valid phone number in E.164 format (+ and country code).",
        "Der Empfänger {recipient} ist keine gültige Rufnummer im E.164-Format (+ und Ländervorwahl).",
        422,
    ),
    "recipient_opted_out": ErrorText(
        "The recipient has opted out of messages from this sender (replied STOP). They can opt in again by "
        "replying START.",
        "Der Empfänger hat Nachrichten dieses Absenders abbestellt (Antwort STOP). Mit der Antwort START kann er "
        "sie wieder erhalten.",
        409,
    ),
    "recipient_opted_out_of_service": ErrorText(
        "The recipient has opted out of messages from the Messaging Service {service} (replied STOP to one of its "
        "senders), which covers this sender. They can opt in again by replying START to any of its senders.",
        "Der Empfänger hat Nachrichten des Messaging Service {service} abbestellt (Antwort STOP an einen seiner "
        "Absender); das gilt auch für diesen Absender. Mit der Antwort START an einen seiner Absender kann er sie "
        "wieder erhalten.",
        409,
    ),
    "message_empty": ErrorText(
        "The message has neither text nor media.",
        "Die Nachricht hat weder Text noch Medien.",
        422,
    ),
    "message_too_long": ErrorText(
        "The message text is longer than {limit} characters.",
        "Der Nachrichtentext ist länger als {limit} Zeichen.",
        422,
    ),
    "message_media_invalid": ErrorText(
        "A message may carry at most {limit} media attachments, each an https URL.",
        "Eine Nachricht darf höchstens {limit} Medienanhänge haben, jeder eine https-URL.",
        422,
    ),
    "sender_not_capable": ErrorText(
        "Twilio cannot send from {sender}: it is not an SMS-capable number of the Twilio account for this "
        "destination (Twilio error 21606).",
        "Twilio kann nicht von {sender} senden: Sie ist keine SMS-fähige Nummer des Twilio-Kontos für dieses "
        "Ziel (Twilio-Fehler 21606).",
        422,
    ),
    "destination_not_permitted": ErrorText(
        "Sending SMS to this recipient's country is not enabled in the Twilio account's Geo Permissions "
        "(Twilio error 21408).",
        "Der SMS-Versand in das Land dieses Empfängers ist in den Geo Permissions des Twilio-Kontos nicht "
        "freigeschaltet (Twilio-Fehler 21408).",
        422,
    ),
    "recipient_unreachable": ErrorText(
        "Twilio cannot send from this sender to this recipient, for example because the recipient is a "
        "landline (Twilio error {twilio_code}).",
        "Twilio kann von diesem Absender nicht an diesen Empfänger senden, zum Beispiel weil der Empfänger "
        "ein Festnetzanschluss ist (Twilio-Fehler {twilio_code}).",
        422,
    ),
    "sender_queue_full": ErrorText(
        "The sender's queue at Twilio holds more than 10 hours of messages. Please send later (Twilio error 21611).",
        "Die Warteschlange des Absenders bei Twilio enthält Nachrichten für mehr als 10 Stunden. Bitte senden "
        "Sie später (Twilio-Fehler 21611).",
        503,
    ),
    "outcome_unknown": ErrorText(
        "It is unknown whether the message was sent: sending was interrupted or Twilio did not answer in "
        "time. It was not sent again, so that it is never sent twice. byosms looks it up in Twilio's message log "
        "and reports the outcome once it is known: accepted, or not sent (then it may be sent again).",
        "Es ist unbekannt, ob die Nachricht gesendet wurde: Das Senden wurde unterbrochen oder Twilio hat "
        "nicht rechtzeitig geantwortet. Sie wurde nicht erneut gesendet, damit sie nie doppelt ankommt. byosms "
        "sucht sie im Nachrichtenprotokoll von Twilio und meldet das Ergebnis, sobald es feststeht: angenommen "
        "oder nicht gesendet (dann darf sie erneut gesendet werden).",
        504,
    ),
    "not_sent": ErrorText(
        "The message was not sent: Twilio's message log shows that it never reached Twilio. It is safe to "
        "send it again (as a new message).",
        "Die Nachricht wurde nicht gesendet: Laut Nachrichtenprotokoll von Twilio ist sie dort nie angekommen. "
        "Sie kann gefahrlos erneut gesendet werden (als neue Nachricht).",
        503,
    ),
    # Why a sent message was not delivered (routing's delivery_errors; Twilio's 30xxx codes).
    "delivery_queue_overflow": ErrorText(
        "Twilio could not send the message in time: the sender's queue was full or the message expired (Twilio "
        "error {twilio_code}). Send fewer messages at once or try again later.",
        "Twilio konnte die Nachricht nicht rechtzeitig senden: Die Warteschlange des Absenders war voll oder die "
        "Nachricht ist abgelaufen (Twilio-Fehler {twilio_code}). Senden Sie weniger Nachrichten auf einmal oder "
        "versuchen Sie es später erneut.",
        422,
    ),
    "delivery_account_suspended": ErrorText(
        "The Twilio account is suspended, so the message was not delivered (Twilio error {twilio_code}).",
        "Das Twilio-Konto ist gesperrt, daher wurde die Nachricht nicht zugestellt (Twilio-Fehler {twilio_code}).",
        422,
    ),
    "delivery_handset_unreachable": ErrorText(
        "The recipient's phone could not be reached: it may be switched off or out of coverage (Twilio error "
        "{twilio_code}). Try again later.",
        "Das Telefon des Empfängers war nicht erreichbar: Es ist vielleicht ausgeschaltet oder ohne Empfang "
        "(Twilio-Fehler {twilio_code}). Versuchen Sie es später erneut.",
        422,
    ),
    "delivery_message_blocked": ErrorText(
        "The message was blocked by the recipient, their carrier or an account setting (Twilio error {twilio_code}).",
        "Die Nachricht wurde vom Empfänger, seinem Netzbetreiber oder einer Kontoeinstellung blockiert (Twilio-"
        "Fehler {twilio_code}).",
        422,
    ),
    "delivery_unknown_destination": ErrorText(
        "The recipient's number is unknown or no longer active (Twilio error {twilio_code}).",
        "Die Nummer des Empfängers ist unbekannt oder nicht mehr aktiv (Twilio-Fehler {twilio_code}).",
        422,
    ),
    "delivery_landline_or_unreachable_carrier": ErrorText(
        "The recipient's number is a landline or its carrier cannot be reached by SMS (Twilio error {twilio_code}).",
        "Die Nummer des Empfängers ist ein Festnetzanschluss oder ihr Netzbetreiber ist per SMS nicht erreichbar "
        "(Twilio-Fehler {twilio_code}).",
        422,
    ),
    "delivery_message_filtered": ErrorText(
        "The message was filtered by Twilio or the carrier as spam, fraud or against policy (Twilio error "
        "{twilio_code}). Review its content; do not send it again unchanged.",
        "Die Nachricht wurde von Twilio oder dem Netzbetreiber als Spam, Betrug oder Richtlinienverstoß gefiltert "
        "(Twilio-Fehler {twilio_code}). Prüfen Sie den Inhalt; senden Sie sie nicht unverändert erneut.",
        422,
    ),
    "delivery_carrier_error": ErrorText(
        "The carrier reported an unknown error (Twilio error {twilio_code}). Try again later.",
        "Der Netzbetreiber hat einen unbekannten Fehler gemeldet (Twilio-Fehler {twilio_code}). Versuchen Sie es "
        "später erneut.",
        422,
    ),
    "delivery_toll_free_unverified": ErrorText(
        "The toll-free sender has not been verified with Twilio, so carriers do not deliver its messages (Twilio "
        "error {twilio_code}). Complete toll-free verification.",
        "Der gebührenfreie Absender ist bei Twilio nicht verifiziert, daher stellen die Netzbetreiber seine "
        "Nachrichten nicht zu (Twilio-Fehler {twilio_code}). Schließen Sie die Toll-Free-Verifizierung ab.",
        422,
    ),
    "delivery_unregistered_10dlc": ErrorText(
        "The sender is not registered for US A2P 10DLC, so carriers block its messages (Twilio error "
        "{twilio_code}). Register the number with a campaign.",
        "Der Absender ist nicht für US A2P 10DLC registriert, daher blockieren die Netzbetreiber seine Nachrichten"
        " (Twilio-Fehler {twilio_code}). Registrieren Sie die Nummer mit einer Kampagne.",
        422,
    ),
    "delivery_sms_pumping_blocked": ErrorText(
        "Twilio's SMS Pumping Protection blocked the message as likely fraud (Twilio error {twilio_code}).",
        "Der SMS-Pumping-Schutz von Twilio hat die Nachricht als wahrscheinlichen Betrug blockiert (Twilio-Fehler "
        "{twilio_code}).",
        422,
    ),
    "delivery_quiet_hours": ErrorText(
        "The message was blocked because it would have arrived in the recipient's quiet hours (Twilio error "
        "{twilio_code}).",
        "Die Nachricht wurde blockiert, weil sie in der Ruhezeit des Empfängers angekommen wäre (Twilio-Fehler "
        "{twilio_code}).",
        422,
    ),
    "delivery_litigator_blocked": ErrorText(
        "The message was blocked: the recipient is on a list of known TCPA litigators (Twilio error {twilio_code}).",
        "Die Nachricht wurde blockiert: Der Empfänger steht auf einer Liste bekannter TCPA-Kläger (Twilio-Fehler "
        "{twilio_code}).",
        422,
    ),
    "delivery_reschedule_failed": ErrorText(
        "Twilio could not reschedule the message outside the recipient's quiet hours (Twilio error {twilio_code}).",
        "Twilio konnte die Nachricht nicht außerhalb der Ruhezeit des Empfängers neu einplanen (Twilio-Fehler "
        "{twilio_code}).",
        422,
    ),
    "delivery_not_delivered": ErrorText(
        "The message could not be delivered (Twilio error {twilio_code}).",
        "Die Nachricht konnte nicht zugestellt werden (Twilio-Fehler {twilio_code}).",
        422,
    ),
    "delivery_canceled": ErrorText(
        "The message was canceled before it was sent.",
        "Die Nachricht wurde vor dem Senden storniert.",
        422,
    ),
    "delivery_partially_delivered": ErrorText(
        "The message was delivered only in part.",
        "Die Nachricht wurde nur teilweise zugestellt.",
        422,
    ),
    "message_not_delivered": ErrorText(
        "The message could not be delivered (Twilio error {twilio_code}).",
        "Die Nachricht konnte nicht zugestellt werden (Twilio-Fehler {twilio_code}).",
        422,
    ),
    "message_not_delivered_without_code": ErrorText(
        "The message could not be delivered (Twilio gave no error code).",
        "Die Nachricht konnte nicht zugestellt werden (Twilio hat keinen Fehlercode genannt).",
        422,
    ),
    # Inbound MMS media fetched through provisioning (GET /api/v2/sms/media).
    "media_url_not_allowed": ErrorText(
        "Only media URLs of Twilio's API are fetched: "
        "https://api.twilio.com/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME… of the integration's own account.",
        "Es werden nur Medien-URLs der Twilio-API abgerufen: "
        "https://api.twilio.com/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME… des eigenen Kontos der Integration.",
        400,
    ),
    "media_not_found": ErrorText(
        "No such media item in your organization.",
        "Kein solches Medienelement in Ihrer Organisation.",
        404,
    ),
    "media_too_large": ErrorText(
        "The media item is larger than {limit} bytes and is not served.",
        "Das Medienelement ist größer als {limit} Bytes und wird nicht ausgeliefert.",
        422,
    ),
    "media_type_not_allowed": ErrorText(
        "Media of type {content_type} is not served; allowed are the MMS types images, audio, video, vCard, "
        "calendar and PDF.",
        "Medien vom Typ {content_type} werden nicht ausgeliefert; erlaubt sind die MMS-Typen Bilder, Audio, "
        "Video, vCard, Kalender und PDF.",
        422,
    ),
    "media_redirect_refused": ErrorText(
        "Twilio redirected the media request somewhere byosms does not follow.",
        "Twilio hat die Medienanfrage an ein Ziel umgeleitet, dem byosms nicht folgt.",
        502,
    ),
    "media_busy": ErrorText(
        "Too many media items are being fetched right now. Please try again shortly.",
        "Gerade werden zu viele Medienelemente abgerufen. Bitte versuchen Sie es gleich erneut.",
        503,
    ),
    # Generic request errors.
    "invalid_request": ErrorText(
        "The request is invalid: {detail}",
        "Die Anfrage ist ungültig: {detail}",
        400,
    ),
    "payload_too_large": ErrorText(
        "The request body is too large.",
        "Der Anfrageinhalt ist zu groß.",
        413,
    ),
    "unsupported_media_type": ErrorText(
        "This content type is not supported.",
        "Dieser Inhaltstyp wird nicht unterstützt.",
        415,
    ),
    "method_not_allowed": ErrorText(
        "This method is not allowed here.",
        "Diese Methode ist hier nicht erlaubt.",
        405,
    ),
    "unauthenticated": ErrorText(
        "Authentication is required.",
        "Eine Authentifizierung ist erforderlich.",
        401,
    ),
    "auth_unavailable": ErrorText(
        "The keys to verify your token could not be fetched right now. Please try again later.",
        "Die Schlüssel zur Prüfung Ihres Tokens konnten gerade nicht abgerufen werden. Bitte versuchen Sie "
        "es später erneut.",
        503,
    ),
    "forbidden": ErrorText(
        "You lack the permission {permission}.",
        "Ihnen fehlt die Berechtigung {permission}.",
        403,
    ),
    "not_found": ErrorText(
        "Not found.",
        "Nicht gefunden.",
        404,
    ),
    # Ingress (Twilio webhooks).
    "webhook_not_recognized": ErrorText(
        "This webhook is neither an inbound message nor a status callback (it needs a MessageSid, and a"
        " message status or a message); nothing was forwarded.",
        "Dieser Webhook ist weder eine eingehende Nachricht noch ein Status-Callback (er braucht eine"
        " MessageSid und einen Nachrichtenstatus oder eine Nachricht); nichts wurde weitergeleitet.",
        400,
    ),
    "webhook_rejected": ErrorText(
        "The webhook was rejected: its signature is missing or invalid, or the account is not connected.",
        "Der Webhook wurde abgelehnt: Die Signatur fehlt oder ist ungültig, oder das Konto ist nicht verbunden.",
        403,
    ),
    "ingress_unavailable": ErrorText(
        "The message could not be stored right now. Please try again later.",
        "Die Nachricht konnte gerade nicht gespeichert werden. Bitte versuchen Sie es später erneut.",
        503,
    ),
    "service_unavailable": ErrorText(
        "The service is starting or cannot reach its database right now. Please try again shortly.",
        "Der Dienst startet gerade oder erreicht seine Datenbank im Moment nicht. Bitte versuchen Sie es gleich "
        "erneut.",
        503,
    ),
    "internal_error": ErrorText(
        "Something went wrong on our side. Please try again later.",
        "Bei uns ist ein Fehler aufgetreten. Bitte versuchen Sie es später erneut.",
        500,
    ),
}


def render(code: str, language: Language = "en", **params: str) -> str:
    """The message of ``code`` in ``language`` with its placeholders filled."""
    text = CATALOG[code]
    template = text.de if language == "de" else text.en
    return template.format(**params) if params else template


def localized(code: str, **params: str) -> LocalizedText:
    """The message of ``code`` in every served language."""
    return LocalizedText(en=render(code, "en", **params), de=render(code, "de", **params))


def pick_language(accept_language: str | None) -> Language:
    """Choose the response language from an Accept-Language header (German if preferred, else English)."""
    if not accept_language:
        return "en"
    best: tuple[float, Language] = (0.0, "en")
    for part in accept_language.split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        lang = tag.strip().lower()[:2]
        if lang in ("en", "de") and weight > best[0]:
            best = (weight, "de" if lang == "de" else "en")
    return best[1]


class ByosmsError(Exception):
    """Base of all errors byosms reports to a caller. The message is rendered at the edge."""

    default_code = "internal_error"
    retryable = False

    def __init__(self, code: str | None = None, *, retryable: bool | None = None, **params: str) -> None:
        self.code = code or self.default_code
        if self.code not in CATALOG:
            raise ValueError(f"unknown error code {self.code!r}")
        if retryable is not None:
            self.retryable = retryable
        self.params = params
        super().__init__(self.code)

    @property
    def http_status(self) -> int:
        return CATALOG[self.code].http_status

    def message(self, language: Language = "en") -> str:
        return render(self.code, language, **self.params)

    def localized(self) -> LocalizedText:
        return localized(self.code, **self.params)


class InvalidInput(ByosmsError):
    default_code = "invalid_request"


class InvalidField(InvalidInput):
    """One input field refused, with the reason in every served language (``invalid_request``)."""

    def __init__(self, field: str, reason_en: str, reason_de: str) -> None:
        self.field = field
        self.reasons = LocalizedText(en=reason_en, de=reason_de)
        super().__init__("invalid_request", detail=f"{field}: {reason_en}")

    def reason(self, language: Language = "en") -> str:
        return self.reasons.de if language == "de" else self.reasons.en

    def message(self, language: Language = "en") -> str:
        return render(self.code, language, detail=f"{self.field}: {self.reason(language)}")

    def localized(self) -> LocalizedText:
        return LocalizedText(en=self.message("en"), de=self.message("de"))


class NotFound(ByosmsError):
    default_code = "not_found"


class Conflict(ByosmsError):
    default_code = "version_conflict"


class Forbidden(ByosmsError):
    default_code = "forbidden"


class VendorError(ByosmsError):
    default_code = "vendor_unavailable"

"""Every text the console itself shows, in English and German; the language a request is served in.

Error messages of the system (the seed's import errors among them) are not here: the admin API
sends them in the caller's language, and the console shows them as they arrive.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "de"]
LANGUAGES: tuple[Language, ...] = ("en", "de")

TEXTS: dict[str, tuple[str, str]] = {
    # Frame
    "product": ("byosms Admin", "byosms Admin"),
    "nav.label": ("Main", "Hauptnavigation"),
    "nav.integrations": ("Integrations", "Integrationen"),
    "nav.numbers": ("SMS Number Inventory", "SMS-Nummernbestand"),
    "nav.trace": ("Message trace", "Nachrichtenverlauf"),
    "signed_in_as": ("Signed in as {subject} ({organization})", "Angemeldet als {subject} ({organization})"),
    "sign_out": ("Sign out", "Abmelden"),
    "language": ("Language", "Sprache"),
    "cancel": ("Cancel", "Abbrechen"),
    "close": ("Close", "Schließen"),
    "back": ("Back", "Zurück"),
    "next": ("Next", "Weiter"),
    "save": ("Save", "Speichern"),
    "ok": ("OK", "OK"),
    "filter": ("Filter", "Filtern"),
    "all": ("All", "Alle"),
    "next_page": ("Next page", "Nächste Seite"),
    "first_page": ("First page", "Erste Seite"),
    "missing_permission": ("You lack the permission {permission}.", "Ihnen fehlt die Berechtigung {permission}."),
    "api_unreachable": (
        "The admin API cannot be reached right now. Please try again shortly.",
        "Die Admin-API ist gerade nicht erreichbar. Bitte versuchen Sie es gleich erneut.",
    ),
    "request_refused": (
        "The request was refused: it did not come from this console's own pages.",
        "Die Anfrage wurde abgelehnt: Sie kam nicht von den Seiten dieser Konsole.",
    ),
    "internal_error": (
        "Something went wrong in the console. Please try again later.",
        "In der Konsole ist ein Fehler aufgetreten. Bitte versuchen Sie es später erneut.",
    ),
    "page_not_found": ("This page does not exist.", "Diese Seite existiert nicht."),
    # Sign-in
    "login.title": ("Sign in", "Anmelden"),
    "login.dev": ("Development login", "Entwicklungs-Anmeldung"),
    "login.dev_hint": (
        "Mints a token for the organization and the permissions you choose, signed with the local "
        "development key. Leave permissions out to see the console refuse what they allow.",
        "Erzeugt ein Token für die gewählte Organisation und Berechtigungen, signiert mit dem lokalen "
        "Entwicklungsschlüssel. Lassen Sie Berechtigungen weg, um zu sehen, was die Konsole dann verweigert.",
    ),
    "login.organization": ("Organization", "Organisation"),
    "login.subject": ("User", "Benutzer"),
    "login.permissions": ("Permissions", "Berechtigungen"),
    "login.submit": ("Sign in", "Anmelden"),
    "login.token": ("Sign in with a token", "Mit einem Token anmelden"),
    "login.token_hint": (
        "A bearer token (JWT) issued by your platform for the admin API.",
        "Ein Bearer-Token (JWT), das Ihre Plattform für die Admin-API ausgestellt hat.",
    ),
    "login.token_field": ("Bearer token", "Bearer-Token"),
    "login.token_invalid": (
        "This is not a token the console can read (a JWT with the claims sub, org and exp).",
        "Dies ist kein Token, das die Konsole lesen kann (ein JWT mit den Claims sub, org und exp).",
    ),
    "login.expired": (
        "Your session has expired. Please sign in again.",
        "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.",
    ),
    "login.organization_required": ("Enter an organization.", "Geben Sie eine Organisation ein."),
    "perm.integrations:integration:add": (
        "Integrations > Integration > Add",
        "Integrationen > Integration > Hinzufügen",
    ),
    "perm.integrations:integration:delete": (
        "Integrations > Integration > Delete",
        "Integrationen > Integration > Löschen",
    ),
    "perm.integrations:integration:edit": (
        "Integrations > Integration > Edit",
        "Integrationen > Integration > Bearbeiten",
    ),
    "perm.integrations:integration:view": (
        "Integrations > Integration > View",
        "Integrationen > Integration > Ansicht",
    ),
    "perm.sms:phoneNumber:all": ("SMS > phoneNumber > All", "SMS > phoneNumber > Alle"),
    "perm.sms:phoneNumber:view": ("SMS > phoneNumber > View", "SMS > phoneNumber > Ansicht"),
    "perm.sms:phoneNumber:edit": ("SMS > phoneNumber > Edit", "SMS > phoneNumber > Bearbeiten"),
    "perm.sms:phoneNumber:delete": ("SMS > phoneNumber > Delete", "SMS > phoneNumber > Löschen"),
    "perm.sms:phoneNumber:byoImport": ("SMS > phoneNumber > BYO Import", "SMS > phoneNumber > BYO-Import"),
    # Integrations
    "integrations.title": ("Integrations", "Integrationen"),
    "tile.name": ("Bring Your Own Twilio SMS Account Configuration", "Bring Your Own Twilio SMS Account Configuration"),
    "tile.text": (
        "Connect your own Twilio account and send and receive SMS with your Twilio numbers.",
        "Verbinden Sie Ihr eigenes Twilio-Konto und senden und empfangen Sie SMS mit Ihren Twilio-Nummern.",
    ),
    "tile.install": ("Install", "Installieren"),
    "integrations.installed": ("Installed integrations", "Installierte Integrationen"),
    "integrations.empty": ("No integrations yet.", "Noch keine Integrationen."),
    "col.name": ("Name", "Name"),
    "col.region": ("Region", "Region"),
    "col.status": ("Status", "Status"),
    "col.account_sid": ("Account SID", "Account SID"),
    "col.webhooks": ("Webhooks", "Webhooks"),
    "status.active": ("Active", "Aktiv"),
    "status.inactive": ("Inactive", "Inaktiv"),
    "health.ok": ("OK", "OK"),
    "health.failing": ("Failing", "Fehlerhaft"),
    "tab.details": ("Details", "Details"),
    "tab.configuration": ("Configuration", "Konfiguration"),
    "tab.credentials": ("Credentials", "Credentials"),
    "tab.webhooks": ("Webhooks", "Webhooks"),
    "wh.title": ("Webhook health of its numbers", "Webhook-Zustand ihrer Nummern"),
    "wh.status.healthy": ("Healthy", "In Ordnung"),
    "wh.status.misconfigured": ("Misconfigured", "Fehlkonfiguriert"),
    "wh.status.unchecked": ("Not checked yet", "Noch nicht geprüft"),
    "wh.status.no_numbers": ("No numbers", "Keine Nummern"),
    "wh.checked_at": ("Last checked: {at}", "Zuletzt geprüft: {at}"),
    "wh.counts": (
        "{total} numbers: {ok} correct, {drifted} misconfigured, {unchecked} not checked yet.",
        "{total} Nummern: {ok} korrekt, {drifted} fehlkonfiguriert, {unchecked} noch nicht geprüft.",
    ),
    "wh.check_errors": (
        "The last check of {count} numbers could not reach Twilio; it is tried again.",
        "Die letzte Prüfung von {count} Nummern erreichte Twilio nicht; sie wird wiederholt.",
    ),
    "wh.hint": (
        "byosms asks Twilio every hour where each number's inbound SMS really go. A misconfigured number "
        "can be repaired from its row in the SMS number inventory.",
        "byosms fragt Twilio stündlich, wohin die eingehenden SMS jeder Nummer wirklich gehen. Eine "
        "fehlkonfigurierte Nummer lässt sich über ihre Zeile im SMS-Nummernbestand reparieren.",
    ),
    "wh.drifted": ("Misconfigured numbers", "Fehlkonfigurierte Nummern"),
    "wh.delivers_to": ("Twilio delivers its SMS to {url} now.", "Twilio stellt ihre SMS jetzt an {url} zu."),
    "wh.col.number": ("Number", "Nummer"),
    "wh.col.wrong": ("What is wrong", "Was nicht stimmt"),
    "wh.col.since": ("Since", "Seit"),
    "wh.col.checked": ("Checked", "Geprüft"),
    "wh.col.when": ("When", "Wann"),
    "wh.col.change": ("Set at Twilio", "Bei Twilio gesetzt"),
    "wh.col.outcome": ("Outcome", "Ergebnis"),
    "wh.col.by": ("By", "Durch"),
    "wh.signatures": ("Twilio's signatures", "Signaturen von Twilio"),
    "wh.signatures_ok": (
        "No webhook failed signature validation since the credentials were last set.",
        "Seit dem letzten Setzen der Anmeldedaten ist kein Webhook an der Signaturprüfung gescheitert.",
    ),
    "wh.signatures_failing": (
        "{count} webhooks failed signature validation.",
        "{count} Webhooks sind an der Signaturprüfung gescheitert.",
    ),
    "wh.mode": ("Signature mode", "Signaturmodus"),
    "wh.mode.enforce": ("Enforce", "Erzwingen"),
    "wh.mode.observe": ("Observe", "Beobachten"),
    "wh.mode_hint.enforce": (
        "A webhook whose signature fails is refused.",
        "Ein Webhook, dessen Signatur nicht stimmt, wird abgelehnt.",
    ),
    "wh.mode_hint.observe": (
        "A webhook whose signature fails is counted and reported, but accepted: use it only for the first "
        "hours behind a new proxy.",
        "Ein Webhook, dessen Signatur nicht stimmt, wird gezählt und gemeldet, aber angenommen: nur für die "
        "ersten Stunden hinter einem neuen Proxy.",
    ),
    "wh.observe_until": ("until {at}, then enforce again by itself", "bis {at}, danach von selbst wieder Erzwingen"),
    "wh.observe_for": ("Observe for", "Beobachten für"),
    "wh.duration.1": ("1 hour", "1 Stunde"),
    "wh.duration.4": ("4 hours", "4 Stunden"),
    "wh.duration.24": ("24 hours", "24 Stunden"),
    "wh.duration.72": ("3 days", "3 Tage"),
    "wh.duration.168": ("7 days", "7 Tage"),
    "wh.observe_hint": (
        "Observe mode ends by itself: the integration returns to enforce after this time (at most 7 days).",
        "Der Beobachtungsmodus endet von selbst: Nach dieser Zeit gilt wieder Erzwingen (höchstens 7 Tage).",
    ),
    "wh.switch_observe": ("Switch to observe", "Auf Beobachten umschalten"),
    "wh.switch_enforce": ("Switch to enforce", "Auf Erzwingen umschalten"),
    "wh.rotation": ("Auth Token rotation", "Wechsel des Auth Tokens"),
    "wh.rotation_none": ("No rotation in progress.", "Kein Wechsel im Gange."),
    "wh.rotation_pending": (
        "A second token is pending since {since}: webhooks signed with either token are accepted until "
        "{until}, or until it is confirmed.",
        "Ein zweites Token ist seit {since} hinterlegt: Webhooks, die mit einem der beiden Tokens signiert "
        "sind, werden bis {until} angenommen oder bis es bestätigt wird.",
    ),
    "wh.repairs": ("Repaired in the last 7 days", "In den letzten 7 Tagen repariert"),
    "wh.repairs_none": (
        "No number's webhook was repaired in the last 7 days.",
        "In den letzten 7 Tagen wurde kein Webhook einer Nummer repariert.",
    ),
    "wh.recovered": ("Recovered messages (last 7 days)", "Nachgeholte Nachrichten (letzte 7 Tage)"),
    "wh.recovered_count": (
        "Inbound messages whose webhook never came, found in Twilio's message list and replayed: {count}.",
        "Eingehende Nachrichten, deren Webhook nie kam, in Twilios Nachrichtenliste gefunden und nachgeholt: {count}.",
    ),
    "wh.recovered_none": (
        "No inbound message had to be recovered in the last 7 days.",
        "In den letzten 7 Tagen musste keine eingehende Nachricht nachgeholt werden.",
    ),
    "wh.recovered.routed": ("Routed", "Weitergeleitet"),
    "wh.recovered.discarded": ("Discarded", "Verworfen"),
    "wh.col.message": ("Message", "Nachricht"),
    "wh.outcome.applied": ("Applied", "Übernommen"),
    "wh.outcome.failed": ("Failed", "Fehlgeschlagen"),
    "done.mode_observe": (
        "Signature mode: observe. Webhooks with a bad signature are accepted until it ends.",
        "Signaturmodus: Beobachten. Webhooks mit falscher Signatur werden bis zu seinem Ende angenommen.",
    ),
    "done.mode_enforce": (
        "Signature mode: enforce. Webhooks with a bad signature are refused.",
        "Signaturmodus: Erzwingen. Webhooks mit falscher Signatur werden abgelehnt.",
    ),
    "tabs.label": ("Integration settings", "Einstellungen der Integration"),
    "field.name": ("Name", "Name"),
    "field.notes": ("Notes", "Notizen"),
    "field.default_target": ("Default queue of its numbers", "Standard-Warteschlange ihrer Nummern"),
    "field.default_target_hint": (
        "Queue or inbound flow id for numbers without one of their own; empty: the organization's default.",
        "ID der Warteschlange oder des eingehenden Flows für Nummern ohne eigene; leer: die Vorgabe der Organisation.",
    ),
    "field.notes_hint": (
        "Use the name and the notes to tell which Twilio account this integration uses.",
        "Nutzen Sie Name und Notizen, um zu erkennen, welches Twilio-Konto diese Integration verwendet.",
    ),
    "field.region": ("Region", "Region"),
    "install.title": (
        "Bring Your Own Twilio SMS Account Configuration",
        "Bring Your Own Twilio SMS Account Configuration",
    ),
    "install.region_hint": (
        "The region decides the inbound webhook URL your Twilio numbers must use.",
        "Die Region bestimmt die Webhook-URL für eingehende Nachrichten, die Ihre Twilio-Nummern verwenden müssen.",
    ),
    "details.status": ("Status", "Status"),
    "details.activate": ("Activate", "Aktivieren"),
    "details.deactivate": ("Deactivate", "Deaktivieren"),
    "details.delete": ("Delete integration", "Integration löschen"),
    "details.activate_hint": (
        "Set the credentials first: an integration without them cannot be activated.",
        "Hinterlegen Sie zuerst die Anmeldedaten: Ohne sie lässt sich eine Integration nicht aktivieren.",
    ),
    "done.created": ("The integration was created.", "Die Integration wurde angelegt."),
    "done.saved": ("The changes were saved.", "Die Änderungen wurden gespeichert."),
    "done.credentials": (
        "The credentials were checked with Twilio and saved.",
        "Die Anmeldedaten wurden bei Twilio geprüft und gespeichert.",
    ),
    "done.activated": ("The integration is active.", "Die Integration ist aktiv."),
    "done.deactivated": ("The integration is inactive.", "Die Integration ist inaktiv."),
    "done.deleted": ("The integration was deleted.", "Die Integration wurde gelöscht."),
    "done.removal": (
        "The number is being removed from the inventory.",
        "Die Nummer wird aus dem Bestand entfernt.",
    ),
    "done.queue": ("The number's queue was saved.", "Die Warteschlange der Nummer wurde gespeichert."),
    "done.queue_running": (
        "The queue change is being carried out; the list shows it in a moment.",
        "Die Änderung der Warteschlange wird ausgeführt; die Liste zeigt sie gleich.",
    ),
    "done.defaults": (
        "The organization's default queue was saved.",
        "Die Standard-Warteschlange der Organisation wurde gespeichert.",
    ),
    "config.webhook_url": ("Inbound webhook URL", "Webhook-URL für eingehende Nachrichten"),
    "config.copy": ("Copy", "Kopieren"),
    "config.copied": ("Copied to the clipboard.", "In die Zwischenablage kopiert."),
    "config.webhook_hint": (
        "Before you import a number, set this URL as its SMS webhook in the Twilio console "
        '("A message comes in", HTTP POST). An import of a number without it is refused.',
        "Hinterlegen Sie diese URL vor dem Import einer Nummer in der Twilio-Konsole als deren SMS-Webhook "
        '("A message comes in", HTTP POST). Der Import einer Nummer ohne sie wird abgelehnt.',
    ),
    "config.10dlc": (
        'US 10DLC numbers that Twilio placed in a Messaging Service: choose "Defer to sender\'s webhook" in '
        "the service's integration settings and give each number this webhook URL.",
        "US-10DLC-Nummern, die Twilio in einen Messaging Service eingeordnet hat: Wählen Sie in den "
        'Integrationseinstellungen des Service "Defer to sender\'s webhook" und geben Sie jeder Nummer diese '
        "Webhook-URL.",
    ),
    "config.secondary": (
        "Secondary auth tokens are not supported: Twilio signs webhooks with the primary Auth Token. Use a "
        "Twilio subaccount for this integration.",
        "Sekundäre Auth Tokens werden nicht unterstützt: Twilio signiert Webhooks mit dem primären Auth Token. "
        "Verwenden Sie für diese Integration ein Twilio-Unterkonto.",
    ),
    "cred.account_sid": ("Account SID", "Account SID"),
    "cred.auth_token": ("Auth Token", "Auth Token"),
    "cred.token_set": ("Set (never shown again)", "Hinterlegt (wird nie wieder angezeigt)"),
    "cred.token_not_set": ("Not set", "Nicht hinterlegt"),
    "cred.configure": ("Configure", "Konfigurieren"),
    "cred.dialog": ("Configure credentials", "Anmeldeinformationen konfigurieren"),
    "cred.stored_note": (
        "byosms checks the credentials with Twilio, encrypts them and never shows the Auth Token again.",
        "byosms prüft die Anmeldedaten bei Twilio, verschlüsselt sie und zeigt das Auth Token nie wieder an.",
    ),
    "deactivate.title": ("Deactivate integration?", "Integration deaktivieren?"),
    "deactivate.text": (
        "Deactivating is temporary. Every number imported for this integration becomes inactive in the SMS "
        "number inventory, and inbound messages that Twilio sends meanwhile are discarded: they do not reach "
        "your queues. Your numbers stay active in your Twilio account.",
        "Das Deaktivieren ist vorübergehend. Alle für diese Integration importierten Nummern werden im "
        "SMS-Nummernbestand inaktiv, und eingehende Nachrichten, die Twilio in der Zwischenzeit sendet, werden "
        "verworfen: Sie erreichen Ihre Warteschlangen nicht. In Ihrem Twilio-Konto bleiben die Nummern aktiv.",
    ),
    "deactivate.webhooks": (
        "To stop Twilio sending messages and delivery reports while it is inactive, point the numbers' "
        "webhooks elsewhere, and back at the inbound webhook URL when you activate it again.",
        "Damit Twilio währenddessen keine Nachrichten und Zustellberichte sendet, richten Sie die Webhooks der "
        "Nummern auf ein anderes Ziel und beim erneuten Aktivieren wieder auf die Webhook-URL.",
    ),
    "delete.title": ("Delete integration?", "Integration löschen?"),
    "delete.text": (
        "Deleting removes every number imported for this integration from the SMS number inventory, whatever "
        "inbound flows or queues still use them.",
        "Beim Löschen werden alle für diese Integration importierten Nummern aus dem SMS-Nummernbestand "
        "entfernt, ganz gleich, welche eingehenden Flows oder Warteschlangen sie noch verwenden.",
    ),
    "delete.webhooks": (
        "The numbers stay in your Twilio account. Reset each number's inbound webhook in the Twilio console; "
        "otherwise its inbound messages keep arriving here and are discarded.",
        "Die Nummern bleiben in Ihrem Twilio-Konto. Setzen Sie den Webhook jeder Nummer in der Twilio-Konsole "
        "zurück; sonst kommen ihre eingehenden Nachrichten weiter hier an und werden verworfen.",
    ),
    # Numbers
    "numbers.title": ("SMS Number Inventory", "SMS-Nummernbestand"),
    "numbers.add": ("Add numbers", "Nummern hinzufügen"),
    "numbers.import": ("Import", "Importieren"),
    "numbers.empty": ("No numbers match.", "Keine passenden Nummern."),
    "numbers.col.address": ("Number", "Nummer"),
    "numbers.col.type": ("Type", "Typ"),
    "numbers.col.country": ("Country", "Land"),
    "numbers.col.integration": ("Integration", "Integration"),
    "numbers.col.state": ("State", "Status"),
    "numbers.col.target": ("Queue", "Warteschlange"),
    "numbers.col.action": ("Last action", "Letzte Aktion"),
    "numbers.col.actions": ("Actions", "Aktionen"),
    "numbers.filter.prefix": ("Number starts with", "Nummer beginnt mit"),
    "numbers.remove": ("Remove", "Entfernen"),
    "numbers.set_queue": ("Set queue", "Warteschlange festlegen"),
    "numbers.no_route": (
        "No queue: inbound messages are discarded",
        "Keine Warteschlange: eingehende Nachrichten werden verworfen",
    ),
    "state.active": ("Active", "Aktiv"),
    "state.inactive": ("Inactive", "Inaktiv"),
    "state.removed-recently": ("Removed recently", "Kürzlich entfernt"),
    "action.import": ("Import", "Import"),
    "action.remove": ("Removal", "Entfernen"),
    "action.set_routing_target": ("Queue change", "Warteschlange ändern"),
    "action.set_compliance": ("Compliance change", "Compliance ändern"),
    "action.running": ("running", "läuft"),
    "action.completed": ("completed", "abgeschlossen"),
    "action.failed": ("failed", "fehlgeschlagen"),
    "numbers.from.integration": ("integration's default", "Vorgabe der Integration"),
    "numbers.from.organization": ("organization's default", "Vorgabe der Organisation"),
    "numbers.defaults": ("Organization's default queue", "Standard-Warteschlange der Organisation"),
    "numbers.defaults_hint": (
        "Where messages go when neither the number nor its integration names a queue. Without any, "
        "messages are discarded and the number shows a warning.",
        "Wohin Nachrichten gehen, wenn weder die Nummer noch ihre Integration eine Warteschlange nennt. "
        "Ohne eine werden Nachrichten verworfen und die Nummer zeigt eine Warnung.",
    ),
    "type.local": ("Local", "Local"),
    "type.mobile": ("Mobile", "Mobile"),
    "type.tollfree": ("Toll-free", "Toll-free"),
    "type.shortcode": ("Shortcode", "Shortcode"),
    "remove.title": ("Remove number?", "Nummer entfernen?"),
    "remove.text": (
        "{address} is removed from the SMS number inventory and can be imported again. It stays in your "
        "Twilio account.",
        "{address} wird aus dem SMS-Nummernbestand entfernt und kann erneut importiert werden. In Ihrem "
        "Twilio-Konto bleibt sie erhalten.",
    ),
    "queue.title": ("Set queue", "Warteschlange festlegen"),
    "queue.field": ("Queue or inbound flow id", "ID der Warteschlange oder des eingehenden Flows"),
    "queue.hint": (
        "Leave empty to use the integration's or the organization's default.",
        "Leer lassen, um die Vorgabe der Integration oder der Organisation zu verwenden.",
    ),
    # Import dialog
    "import.title": ("Import number", "Nummer importieren"),
    "import.integration": ("Integration", "Integration"),
    "import.type": ("Type", "Typ"),
    "import.sender_id": ("Sender ID", "Absender-ID"),
    "import.sender_id_hint": (
        "Local, Mobile, Toll-free: the number in E.164 format, e.g. +4930123456. Shortcode: its digits.",
        "Local, Mobile, Toll-free: die Nummer im Format E.164, z. B. +4930123456. Shortcode: seine Ziffern.",
    ),
    "import.country": ("Country", "Land"),
    "import.country_hint": (
        "Only for a Shortcode: the country it is provisioned in.",
        "Nur für einen Shortcode: das Land, in dem er bereitgestellt ist.",
    ),
    "import.choose": ("Choose…", "Auswählen…"),
    "import.no_integrations": (
        "There is no integration to import from yet: install one first.",
        "Es gibt noch keine Integration, aus der importiert werden kann: Installieren Sie zuerst eine.",
    ),
    "import.inactive_suffix": ("inactive", "inaktiv"),
    "import.required": ("Required interaction", "Erforderliche Interaktion"),
    "import.required_hint": (
        "A shortcode needs keywords and a reply message on each of the three tabs.",
        "Ein Shortcode braucht Schlüsselwörter und eine Antwortnachricht auf jeder der drei Registerkarten.",
    ),
    "import.compliance_tabs": ("Compliance", "Compliance"),
    "import.help": ("Help", "Hilfe"),
    "import.opt_out": ("Opt-out", "Opt-out"),
    "import.re_opt_in": ("Re Opt-in", "Re Opt-in"),
    "import.keywords": ("Keywords", "Schlüsselwörter"),
    "import.keywords_hint": ("Separate keywords with commas.", "Trennen Sie Schlüsselwörter durch Kommas."),
    "import.message": ("Message", "Nachricht"),
    "import.confirm_title": ("Confirm the import", "Import bestätigen"),
    "import.confirm_text": (
        "byosms checks the number in your Twilio account and its webhook, then adds it to the SMS number inventory.",
        "byosms prüft die Nummer in Ihrem Twilio-Konto und ihren Webhook und fügt sie dann dem "
        "SMS-Nummernbestand hinzu.",
    ),
    "import.confirm": ("Confirm the import", "Import bestätigen"),
    "import.progress": ("Importing {sender_id}…", "{sender_id} wird importiert …"),
    "import.progress_hint": (
        "byosms is fetching the number's data from Twilio. This page updates by itself.",
        "byosms ruft die Daten der Nummer bei Twilio ab. Diese Seite aktualisiert sich selbst.",
    ),
    "import.failed": ("The number was not imported", "Die Nummer wurde nicht importiert"),
    "import.succeeded": ("The number import was successful: {address}", "Der Nummernimport war erfolgreich: {address}"),
    # Trace
    "trace.title": ("Message trace", "Nachrichtenverlauf"),
    "trace.sid": ("MessageSid", "MessageSid"),
    "trace.lookup": ("Look up", "Nachschlagen"),
    "trace.direction": ("Direction", "Richtung"),
    "trace.steps": ("Steps", "Schritte"),
    "trace.at": ("When", "Zeitpunkt"),
    "trace.step": ("Step", "Schritt"),
    "trace.detail": ("Detail", "Detail"),
    "trace.hint": (
        "Inbound: the MessageSid Twilio gave the message. Outbound: its MessageSid, or your message id when "
        "Twilio never had it. Kept for 30 days; no message text is kept.",
        "Eingehend: die MessageSid, die Twilio der Nachricht gab. Ausgehend: ihre MessageSid oder Ihre "
        "Nachrichten-ID, wenn Twilio sie nie erhielt. 30 Tage aufbewahrt; kein Nachrichtentext wird aufbewahrt.",
    ),
    "trace.direction.inbound": ("Inbound", "Eingehend"),
    "trace.direction.outbound": ("Outbound", "Ausgehend"),
    "trace.message_id": ("Message id", "Nachrichten-ID"),
    "trace.step.received": ("Received by the ingress", "Vom Ingress empfangen"),
    "trace.step.routed": ("Routed", "Weitergeleitet"),
    "trace.step.discarded": ("Discarded", "Verworfen"),
    "trace.step.checks": ("Send checks", "Sendeprüfungen"),
    "trace.step.accepted": ("Accepted by Twilio", "Von Twilio angenommen"),
    "trace.step.failed": ("Failed", "Fehlgeschlagen"),
    "trace.step.status": ("Delivery status", "Zustellstatus"),
    "trace.field.region": ("region", "Region"),
    "trace.field.spooled": ("through the spool", "über den Spool"),
    "trace.field.target": ("queue", "Warteschlange"),
    "trace.field.reason": ("reason", "Grund"),
    "trace.field.outcome": ("outcome", "Ergebnis"),
    "trace.field.status": ("status", "Status"),
    "trace.field.message_sid": ("MessageSid", "MessageSid"),
    "trace.field.code": ("code", "Code"),
    "trace.field.error_code": ("Twilio error", "Twilio-Fehler"),
    "trace.field.retryable": ("retryable", "wiederholbar"),
    "yes": ("yes", "ja"),
    "no": ("no", "nein"),
}


def text(key: str, language: Language, **params: str) -> str:
    """The text ``key`` in ``language`` with its placeholders filled."""
    en, de = TEXTS[key]
    template = de if language == "de" else en
    return template.format(**params) if params else template


def pick_language(chosen: str | None, accept_language: str | None) -> Language:
    """The language of a page: the user's switch (cookie) first, else the browser's preference."""
    if chosen in LANGUAGES:
        return "de" if chosen == "de" else "en"
    best: tuple[float, Language] = (0.0, "en")
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        prefix = tag.strip().lower()[:2]
        if prefix in LANGUAGES and weight > best[0]:
            best = (weight, "de" if prefix == "de" else "en")
    return best[1]

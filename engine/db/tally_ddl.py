"""The SQL of the report tallies' triggers (engine.db.models.tallies), for the migrations.

Frozen with the schema: migration 0007 creates these triggers and 0008
re-creates them on SQLite after rebuilding `contacts` and `sends` (a SQLite
table rebuild drops its triggers); 0010 replaces how PostgreSQL's
sends-updated trigger finds a send's contact (same counts, cheaper plan). A change to what they count is a new
function here and a new migration, never an edit of these.
"""

from __future__ import annotations

COUNTED = "('treated', 'held_out')"


def counted(row: str) -> str:
    """A contact in the experiment: treated or held out, with its cell."""
    return f"{row}.status IN {COUNTED} AND {row}.cell_id IS NOT NULL"


WENT = "('sent', 'unknown')"
STATES = ("queued", "sending", "sent", "unknown", "failed", "skipped", "cancelled")
DELIVERED = "('delivered', 'read')"
UNDELIVERED = "('bounced', 'blocked', 'dropped', 'undelivered', 'failed', 'returned')"


def code(row: str) -> str:
    """A send's code: state ordinal * 16 + delivered 8 / undelivered 4 + opened 2 + clicked 1."""
    states = " ".join(f"WHEN '{state}' THEN {i}" for i, state in enumerate(STATES, 1))
    return (
        f"((CASE {row}.state {states} ELSE 0 END) * 16"
        f" + CASE WHEN {row}.delivery IN {DELIVERED} THEN 8"
        f" WHEN {row}.delivery IN {UNDELIVERED} THEN 4 ELSE 0 END"
        f" + CASE WHEN {row}.opened_at IS NOT NULL THEN 2 ELSE 0 END"
        f" + CASE WHEN {row}.clicked_at IS NOT NULL THEN 1 ELSE 0 END)"
    )


def _bit(condition: str, bit: int) -> str:
    return f"MAX(CASE WHEN s.state IN {WENT}{condition} THEN {bit} ELSE 0 END)"


# A contact's reach from its sends that went: sent 32, delivered 8, bounced 4,
# opened 2, clicked 1 (the flag bits of `code`).
REACH_OF_SENDS = (
    "COALESCE("
    + " + ".join(
        (
            _bit("", 32),
            _bit(f" AND s.delivery IN {DELIVERED}", 8),
            _bit(f" AND s.delivery IN {UNDELIVERED}", 4),
            _bit(" AND s.opened_at IS NOT NULL", 2),
            _bit(" AND s.clicked_at IS NOT NULL", 1),
        )
    )
    + ", 0)"
)


def reach(contact_id: str) -> str:
    return f"(SELECT {REACH_OF_SENDS} FROM sends AS s WHERE s.contact_id = {contact_id})"


def backfill() -> list[str]:
    """Reach and tallies of the rows already there, before the triggers keep them."""
    return [
        f"UPDATE contacts SET reach = {reach('contacts.id')} WHERE EXISTS"
        f" (SELECT 1 FROM sends AS s WHERE s.contact_id = contacts.id AND s.state IN {WENT})",
        "INSERT INTO contact_tallies (campaign_id, cell_id, status, reach, seq, n)"
        " SELECT campaign_id, cell_id, status, reach, 0, COUNT(*) FROM contacts"
        f" WHERE {counted('contacts')} GROUP BY campaign_id, cell_id, status, reach",
        "INSERT INTO send_tallies (campaign_id, cell_id, step, code, seq, n)"
        f" SELECT s.campaign_id, c.cell_id, s.step, {code('s')}, 0, COUNT(*)"
        " FROM sends AS s JOIN contacts AS c ON c.id = s.contact_id"
        f" WHERE {counted('c')} GROUP BY s.campaign_id, c.cell_id, s.step, {code('s')}",
    ]


SQLITE_TRIGGERS = (
    "tally_sends_updated", "tally_sends_inserted_went", "tally_sends_inserted",
    "tally_contacts_reach", "tally_contacts_inserted",
)  # fmt: skip


def _add(table: str, values: str) -> str:
    """SQLite: add to the one row of a key (`values` ends with seq 0 and n)."""
    columns = (
        "campaign_id, cell_id, status, reach" if table == "contact_tallies"
        else "campaign_id, cell_id, step, code"
    )  # fmt: skip
    return (
        f"INSERT INTO {table} ({columns}, seq, n) {values}"
        f" ON CONFLICT ({columns}, seq) DO UPDATE SET n = n + excluded.n;"
    )


def sqlite_triggers() -> list[str]:
    cell = f"FROM contacts AS c WHERE c.id = NEW.contact_id AND {counted('c')}"
    went = f"NEW.state IN {WENT} OR OLD.state IN {WENT}"
    return [
        f"""CREATE TRIGGER tally_contacts_inserted AFTER INSERT ON contacts
            WHEN {counted("NEW")} BEGIN
            {_add("contact_tallies", "VALUES (NEW.campaign_id, NEW.cell_id, NEW.status, NEW.reach, 0, 1)")}
            END""",
        f"""CREATE TRIGGER tally_contacts_reach AFTER UPDATE OF reach ON contacts
            WHEN NEW.reach <> OLD.reach AND {counted("NEW")} BEGIN
            {_add("contact_tallies", "VALUES (NEW.campaign_id, NEW.cell_id, NEW.status, NEW.reach, 0, 1)")}
            {_add("contact_tallies", "VALUES (OLD.campaign_id, OLD.cell_id, OLD.status, OLD.reach, 0, -1)")}
            END""",
        f"""CREATE TRIGGER tally_sends_inserted AFTER INSERT ON sends BEGIN
            {_add("send_tallies", f"SELECT NEW.campaign_id, c.cell_id, NEW.step, {code('NEW')}, 0, 1 {cell}")}
            END""",
        # sends are queued when written (launch, follow-ups): no reach to recount
        f"""CREATE TRIGGER tally_sends_inserted_went AFTER INSERT ON sends
            WHEN NEW.state IN {WENT} BEGIN
            UPDATE contacts SET reach = {reach("NEW.contact_id")} WHERE id = NEW.contact_id;
            END""",
        f"""CREATE TRIGGER tally_sends_updated AFTER UPDATE OF state, delivery, opened_at, clicked_at
            ON sends WHEN {code("OLD")} <> {code("NEW")} BEGIN
            {_add("send_tallies", f"SELECT NEW.campaign_id, c.cell_id, NEW.step, {code('NEW')}, 0, 1 {cell}")}
            {_add("send_tallies", f"SELECT OLD.campaign_id, c.cell_id, OLD.step, {code('OLD')}, 0, -1 {cell}")}
            UPDATE contacts SET reach = {reach("NEW.contact_id")}
            WHERE id = NEW.contact_id AND ({went});
            END""",
    ]


SEND_KEY = "campaign_id, cell_id, step, code"
# the contacts whose sends changed in a way that can change their reach
RECOUNT = (
    "UPDATE contacts AS c SET reach = r.reach"
    f" FROM (SELECT s.contact_id, {REACH_OF_SENDS} AS reach FROM sends AS s"
    "       WHERE s.contact_id IN (SELECT contact_id FROM touched) GROUP BY s.contact_id) AS r"
    " WHERE c.id = r.contact_id AND c.reach <> r.reach"
)
# How the sends-updated trigger finds each changed send's contact (as `c`).
# 0007: a join, which the planner may hash over every contact (it cannot
# know how few rows a transition table holds). 0010: one primary-key lookup
# per changed send (LIMIT 1 keeps the subquery from being flattened into
# that join): a webhook batch changes a few hundred sends of millions.
CONTACT_JOIN = (" JOIN contacts AS c ON c.id = ch.contact_id", f"  WHERE {counted('c')}")
CONTACT_LOOKUP = (
    " CROSS JOIN LATERAL (SELECT c.cell_id FROM contacts AS c"
    f" WHERE c.id = ch.contact_id AND {counted('c')} LIMIT 1) AS c",
    "",
)


def _function(name: str, body: str, replace: bool = False) -> str:
    return (
        f"CREATE {'OR REPLACE ' if replace else ''}FUNCTION {name}() RETURNS trigger"
        f" LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"
    )


def _sends_updated(contact: tuple[str, str]) -> str:
    """The body of the sends-updated statement trigger, `contact` joining `c` to `ch`."""
    return (
        "WITH changed AS ("
        f"   SELECT nw.contact_id, nw.campaign_id, nw.step, {code('nw')} AS now_code,"
        f"          {code('od')} AS was_code, nw.state AS now_state, od.state AS was_state"
        "   FROM now_rows AS nw JOIN was_rows AS od ON od.id = nw.id"
        f"  WHERE {code('nw')} <> {code('od')}"
        " ), counted AS ("
        f"   INSERT INTO send_tallies ({SEND_KEY}, seq, n)"
        "   SELECT ch.campaign_id, c.cell_id, ch.step, d.code, nextval('tally_seq'), SUM(d.n)"
        f"   FROM changed AS ch{contact[0]}"
        "   CROSS JOIN LATERAL (VALUES (ch.now_code, 1), (ch.was_code, -1)) AS d(code, n)"
        f"{contact[1]}"
        "   GROUP BY ch.campaign_id, c.cell_id, ch.step, d.code HAVING SUM(d.n) <> 0"
        " ), touched AS ("
        f"   SELECT contact_id FROM changed WHERE now_state IN {WENT} OR was_state IN {WENT}"
        f" ) {RECOUNT}"
    )


def postgresql_sends_updated(lookup: bool) -> str:
    """The sends-updated trigger function as 0010 (`lookup`) or 0007 left it, replacing it."""
    body = _sends_updated(CONTACT_LOOKUP if lookup else CONTACT_JOIN)
    return _function("tally_sends_updated", body, replace=True)


def postgresql_triggers() -> list[str]:
    def trigger(name: str, event: str, table: str, transitions: str) -> str:
        return (
            f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transitions}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )

    function = _function
    contact_key = "campaign_id, cell_id, status, reach"
    return [
        "CREATE SEQUENCE tally_seq",
        function(
            "tally_contacts_inserted",
            f"INSERT INTO contact_tallies ({contact_key}, seq, n)"
            f" SELECT {contact_key}, nextval('tally_seq'), COUNT(*) FROM added"
            f" WHERE {counted('added')} GROUP BY {contact_key}",
        ),
        trigger("tally_contacts_inserted", "INSERT", "contacts", "NEW TABLE AS added"),
        function(
            "tally_contacts_updated",
            f"INSERT INTO contact_tallies ({contact_key}, seq, n)"
            f" SELECT {contact_key}, nextval('tally_seq'), SUM(d) FROM ("
            "   SELECT nw.campaign_id, nw.cell_id, nw.status, nw.reach, 1 AS d"
            "   FROM now_rows AS nw JOIN was_rows AS od ON od.id = nw.id"
            f"  WHERE nw.reach <> od.reach AND {counted('nw')}"
            "   UNION ALL"
            "   SELECT od.campaign_id, od.cell_id, od.status, od.reach, -1"
            "   FROM now_rows AS nw JOIN was_rows AS od ON od.id = nw.id"
            f"  WHERE nw.reach <> od.reach AND {counted('od')}"
            f" ) AS changes GROUP BY {contact_key} HAVING SUM(d) <> 0",
        ),
        trigger(
            "tally_contacts_updated",
            "UPDATE",
            "contacts",
            "OLD TABLE AS was_rows NEW TABLE AS now_rows",
        ),
        function(
            "tally_sends_inserted",
            f"INSERT INTO send_tallies ({SEND_KEY}, seq, n)"
            f" SELECT a.campaign_id, c.cell_id, a.step, {code('a')}, nextval('tally_seq'), COUNT(*)"
            f" FROM added AS a JOIN contacts AS c ON c.id = a.contact_id WHERE {counted('c')}"
            f" GROUP BY a.campaign_id, c.cell_id, a.step, {code('a')};"
            f" WITH touched AS (SELECT contact_id FROM added WHERE state IN {WENT}) {RECOUNT}",
        ),
        trigger("tally_sends_inserted", "INSERT", "sends", "NEW TABLE AS added"),
        _function("tally_sends_updated", _sends_updated(CONTACT_JOIN)),
        trigger(
            "tally_sends_updated", "UPDATE", "sends", "OLD TABLE AS was_rows NEW TABLE AS now_rows"
        ),
    ]

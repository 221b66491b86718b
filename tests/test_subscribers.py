"""Subscriber lists: CSV import (bad rows with line numbers, merging, suppressions kept),
export round trip, single-address changes, and unsubscribe tokens."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from digest.errors import DigestError
from digest.store import Store
from digest.store.subscribers import NewSubscriber
from digest.subscribers.exporter import export_csv
from digest.subscribers.importer import import_csv
from digest.subscribers.model import Status
from digest.subscribers.rows import PreparedSubscriber
from digest.subscribers.tokens import InvalidToken, UnsubscribeTokens

ROOT = Path(__file__).resolve().parent.parent

MESSY = """\
email,name,city
good@example.org,Good Person,Kyiv
not-an-address,Broken,Lviv

second@Example.ORG,Second,"Multi
line city"
too,many,columns,here
GOOD@example.org,,Odesa
,Nobody,Nowhere
third@example,Third,Dnipro
fourth@example.com,Fourth,Kharkiv
"""


def write(tmp_path: Path, text: str, name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_reports_bad_rows_by_line_and_keeps_good_ones(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, MESSY)
    report = import_csv(path, store.subscribers, "readers")
    assert (report.rows, report.valid, report.rejected) == (8, 4, 4)
    assert report.new == 3 and report.merged == 1  # GOOD@ merged into good@ within the file
    lines = [problem.split(":")[1] for problem in report.problems]
    assert lines == ["3", "7", "9", "10"]
    assert "invalid address 'not-an-address'" in report.problems[0]
    assert "expected 3 columns, found 4" in report.problems[1]
    assert "email is empty" in report.problems[2]
    assert "invalid address 'third@example'" in report.problems[3]
    assert report.rejects_path == tmp_path / "list.rejects.csv"
    rejects = list(csv.reader(report.rejects_path.open(encoding="utf-8")))
    assert rejects[0] == ["line", "reason", "email", "name", "city"]
    assert [row[0] for row in rejects[1:]] == ["3", "7", "9", "10"]
    assert rejects[1][2:] == ["not-an-address", "Broken", "Lviv"]

    list_id = store.subscribers.list_id("readers")
    good = store.subscribers.find(list_id, "Good@Example.org")
    assert good is not None
    assert good.name == "Good Person" and good.fields == {"city": "Odesa"}
    second = store.subscribers.find(list_id, "second@example.org")
    assert second is not None and second.email == "second@example.org"
    assert second.fields == {"city": "Multi\nline city"}
    assert second.consent_origin == "import:list.csv" and second.consent_at is not None


def test_import_never_resubscribes_and_merges(store: Store, tmp_path: Path) -> None:
    list_id = store.subscribers.ensure_list("readers")
    for email, status in (
        ("gone@example.org", Status.UNSUBSCRIBED),
        ("bounce@example.org", Status.BOUNCED),
        ("angry@example.org", Status.COMPLAINED),
        ("wait@example.org", Status.PENDING),
    ):
        store.subscribers.upsert(
            list_id, [NewSubscriber(email=email, status=status, fields={"a": "1"})]
        )
    path = write(
        tmp_path,
        "email,name,b\n"
        + "".join(
            f"{e},New Name,2\n"
            for e in (
                "GONE@example.org",
                "bounce@example.org",
                "angry@example.org",
                "wait@example.org",
            )
        ),
    )
    report = import_csv(path, store.subscribers, "readers")
    assert report.new == 0 and report.merged == 4
    statuses = {s.email: (s.status, s.name, s.fields) for s in store.subscribers.iterate(list_id)}
    assert statuses["gone@example.org"] == (Status.UNSUBSCRIBED, "New Name", {"a": "1", "b": "2"})
    assert statuses["bounce@example.org"][0] == Status.BOUNCED
    assert statuses["angry@example.org"][0] == Status.COMPLAINED
    assert statuses["wait@example.org"][0] == Status.SUBSCRIBED  # pending may be confirmed


def test_export_round_trip_keeps_statuses(store: Store, tmp_path: Path) -> None:
    import_csv(
        ROOT / "subscribers" / "readers.csv",
        store.subscribers,
        "readers",
        rejects_path=tmp_path / "r.csv",
    )
    list_id = store.subscribers.list_id("readers")
    ben = store.subscribers.find(list_id, "ben.howard@example.com")
    assert ben is not None
    store.subscribers.set_status(ben.id, Status.UNSUBSCRIBED)
    out = tmp_path / "export.csv"
    with out.open("w", encoding="utf-8", newline="") as file:
        assert export_csv(store.subscribers, "readers", file) == 5
    report = import_csv(out, store.subscribers, "copy")
    assert report.rejected == 0 and report.new == 5
    copy = {s.email: s for s in store.subscribers.iterate(store.subscribers.list_id("copy"))}
    assert copy["ben.howard@example.com"].status == Status.UNSUBSCRIBED
    assert copy["chloe.martin@example.net"].name == "Chloé Martin"
    assert copy["chloe.martin@example.net"].fields == {"city": "Lyon"}


def test_exports_and_rejects_open_as_text_in_a_spreadsheet(store: Store, tmp_path: Path) -> None:
    # A name from the public form, and a bad row's cell: formulas to a spreadsheet.
    formula = '=HYPERLINK("http://evil.example","click")'
    path = write(
        tmp_path,
        f'email,name,city\nr1@example.org,"{formula.replace(chr(34), chr(34) * 2)}",+Kyiv\n'
        "=cmd|' /C calc'!A0,-x,@y\n",
    )
    report = import_csv(path, store.subscribers, "readers")
    assert report.new == 1 and report.rejected == 1
    assert report.rejects_path is not None
    [_, rejected] = list(csv.reader(report.rejects_path.open(encoding="utf-8")))
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in rejected), rejected
    assert rejected[2:] == ["'=cmd|' /C calc'!A0", "'-x", "'@y"]
    out = tmp_path / "export.csv"
    with out.open("w", encoding="utf-8", newline="") as file:
        export_csv(store.subscribers, "readers", file)
    [header, row] = list(csv.reader(out.open(encoding="utf-8")))
    assert row[header.index("name")] == f"'{formula}"
    assert row[header.index("city")] == "'+Kyiv"
    # Imported again, the cells are as they were.
    assert import_csv(out, store.subscribers, "copy").new == 1
    [again] = store.subscribers.iterate(store.subscribers.list_id("copy"))
    assert again.name == formula and again.fields == {"city": "+Kyiv"}


def test_import_file_errors(store: Store, tmp_path: Path) -> None:
    with pytest.raises(DigestError, match=r"list.csv:1: the header has no 'email' column"):
        import_csv(write(tmp_path, "mail,name\nx@example.org,X\n"), store.subscribers, "l")
    with pytest.raises(DigestError, match="the file is empty"):
        import_csv(write(tmp_path, "", "empty.csv"), store.subscribers, "l")
    with pytest.raises(DigestError, match="column 'email' appears twice"):
        import_csv(write(tmp_path, "email,Email\n", "twice.csv"), store.subscribers, "l")
    bad_status = write(tmp_path, "email,status\na@example.org,maybe\n", "status.csv")
    report = import_csv(bad_status, store.subscribers, "l")
    assert "status 'maybe' is not one of" in report.problems[0]


def test_parallel_import_matches_serial(sqlite_store: Store, tmp_path: Path) -> None:
    rows = ["email,name,n"]
    for n in range(30_000):
        rows.append(f"user{n}@example.org,User {n},{n}" if n % 1000 else f"broken{n},B,{n}")
    path = write(tmp_path, "\n".join(rows) + "\n", "big.csv")
    report = import_csv(path, sqlite_store.subscribers, "big", workers=2)
    assert report.rows == 30_000 and report.rejected == 30 and report.new == 29_970
    assert [p.split(":")[1] for p in report.problems[:3]] == ["2", "1002", "2002"]
    assert sqlite_store.subscribers.count(sqlite_store.subscribers.list_id("big")) == 29_970


def test_add_unsubscribe_remove_stats(store: Store) -> None:
    list_id = store.subscribers.ensure_list("readers")
    added, created = store.subscribers.add(list_id, NewSubscriber(email="a@example.org", name="A"))
    assert created and added.status == Status.SUBSCRIBED
    store.subscribers.set_status(added.id, Status.UNSUBSCRIBED)
    again, created = store.subscribers.add(list_id, NewSubscriber(email="A@example.org"))
    assert not created and again.status == Status.UNSUBSCRIBED
    store.subscribers.add(list_id, NewSubscriber(email="b@example.org"))
    other = store.subscribers.ensure_list("other")
    store.subscribers.add(other, NewSubscriber(email="b@example.org"))
    stats = store.subscribers.stats()
    assert stats["readers"]["subscribed"] == 1 and stats["readers"]["unsubscribed"] == 1
    assert store.subscribers.remove("B@example.org") == 2
    assert store.subscribers.find(list_id, "b@example.org") is None


def test_tokens_are_bound_and_unforgeable() -> None:
    tokens = UnsubscribeTokens("a-secret-of-sufficient-length")
    token = tokens.make(42, 7, "reader@example.org")
    subject = tokens.read(token)
    assert (subject.subscriber_id, subject.list_id) == (42, 7)
    assert tokens.verify(token, "reader@example.org")
    assert not tokens.verify(token, "someone@example.org")
    altered = token.replace("1.42.7", "1.43.7")
    assert not tokens.verify(altered, "reader@example.org")
    assert not UnsubscribeTokens("another-secret-of-good-length").verify(
        token, "reader@example.org"
    )
    with pytest.raises(InvalidToken):
        tokens.read("garbage")
    with pytest.raises(DigestError, match="secret_key must be set"):
        UnsubscribeTokens("short")


def test_nul_bytes_and_line_breaks_in_rows(store: Store, tmp_path: Path) -> None:
    """A NUL byte (which PostgreSQL refuses in text and JSON) or a line break in one row never
    stops the import: names are folded to one line, other values cleaned, and a row whose
    address holds one is rejected with its line number like any bad row."""
    path = tmp_path / "odd.csv"
    path.write_text(
        "email,name,ci\x00ty\n"
        "nul-name@example.org,Ann\x00 Smith,Kyiv\n"
        'crlf@example.org,"Carol\r\nBcc: x@example.net",Lviv\n'
        "nul\x00@example.org,Nul Address,Odesa\n"
        "field@example.org,Dan\u2028Brown\u202e,Dni\x00pro\n"
        "last@example.org,Last,Kharkiv\n",
        encoding="utf-8",
        newline="",
    )
    report = import_csv(path, store.subscribers, "readers")
    assert (report.rows, report.valid, report.rejected, report.new) == (5, 4, 1, 4)
    assert report.problems[0].startswith(f"{path}:5: invalid address 'nul\\x00@example.org'")
    list_id = store.subscribers.list_id("readers")
    found = {s.email: s for s in store.subscribers.iterate(list_id)}
    assert found["nul-name@example.org"].name == "Ann Smith"
    assert found["crlf@example.org"].name == "Carol Bcc: x@example.net"
    assert found["field@example.org"].name == "Dan Brown"
    assert found["field@example.org"].fields == {"ci ty": "Dnipro"}
    assert found["last@example.org"].fields == {"ci ty": "Kharkiv"}


def test_names_are_one_line_whichever_way_they_come(store: Store) -> None:
    """`subscribers add --name` and the subscribe form make a NewSubscriber; rows stored
    before names were cleaned are read as one line, so no sender sees a line break."""
    list_id = store.subscribers.ensure_list("readers")
    added, _ = store.subscribers.add(
        list_id, NewSubscriber(email="eve@example.org", name="Eve\r\nBcc: all@example.net")
    )
    assert added.name == "Eve Bcc: all@example.net"
    long, _ = store.subscribers.add(
        list_id, NewSubscriber(email="long@example.org", name="N" * 300)
    )
    assert long.name == "N" * 200  # the column's size, on PostgreSQL too
    old = PreparedSubscriber(
        "old@example.org", "old@example.org", "Old\nName", "{}", "subscribed", "", None, ""
    )
    store.subscribers.upsert_prepared(list_id, [old])
    stored = store.subscribers.find(list_id, "old@example.org")
    assert stored is not None and stored.name == "Old Name"


def test_internationalised_addresses_are_kept_normalised(store: Store, tmp_path: Path) -> None:
    """Addresses are stored in email-validator's normalised form: the local part as given
    (NFC), the domain lower-cased and in Unicode even when given as xn--; the same address
    written either way is one subscriber."""
    path = write(
        tmp_path,
        "email,name\n"
        "андрій@ПРИКЛАД.УКР,Андрій\n"
        "User@BÜCHER.de,User\n"
        "user@xn--bcher-kva.de,Same User\n"
        "e\u0301@example.org,Decomposed\n",
    )
    report = import_csv(path, store.subscribers, "readers")
    assert (report.valid, report.rejected, report.new) == (4, 0, 3)
    list_id = store.subscribers.list_id("readers")
    emails = sorted(s.email for s in store.subscribers.iterate(list_id))
    assert emails == sorted(["андрій@приклад.укр", "User@bücher.de", "\u00e9@example.org"])
    same = store.subscribers.find(list_id, "USER@bücher.de")
    assert same is not None and same.name == "Same User"

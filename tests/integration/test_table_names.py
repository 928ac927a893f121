"""Table names stay unique in the tenant at a cost that does not grow with how many of a name it
holds: `sales`, then `sales_N` from the name's own counter."""

from __future__ import annotations

import pytest

from chalicelib import keys
from chalicelib.aws.dynamo import to_item
from chalicelib.files.tables import Table, seq_entry
from chalicelib.ids import new_id
from chalicelib.times import now
from tests.api import upload_direct
from tests.ingestor import Ingestor
from tests.tenant_items import Asked, dynamodb_asked

CSV = b"region,amount\nnorth,1.5\nsouth,2\n"


def _made(ingestor: Ingestor, name: str, created_by: str, file_count: int, *, pending: int | None = None) -> str:
    """A table item of that name, made by ingesting file `created_by`, holding `file_count` READY
    files (and partition `pending` of an attempt not settled); its id."""
    table = Table(
        name=name,
        table_id=new_id(),
        created_at=now(),
        created_by=created_by,
        file_count=file_count,
        next_seq=(pending or 0) + 1,
    )
    item = to_item({**keys.table(ingestor.account.tenant_id, name), **table.to_fields()})
    if pending is not None:
        item["pending"] = {"NS": [str(pending)]}
    ingestor.services.clients.dynamodb.put_item(TableName=ingestor.services.settings.table_name, Item=item)
    return table.table_id


def _taken(ingestor: Ingestor, names: list[str]) -> None:
    """Tables of another file, as earlier uploads of the same name leave them."""
    holder = new_id()
    for name in names:
        _made(ingestor, name, holder, 1)


def _counter(ingestor: Ingestor, base: str, last: int) -> None:
    """The name's suffix counter, as earlier uploads of that name left it."""
    ingestor.services.clients.dynamodb.put_item(
        TableName=ingestor.services.settings.table_name,
        Item=to_item({**keys.table_suffix(ingestor.account.tenant_id, base), "last_suffix": last}),
    )


def _names_tried(asked: Asked) -> list[str]:
    """The table names ingest tried to make (each in the transaction that takes its first partition), in order."""
    return [
        entry["Put"]["Item"]["name"]["S"]
        for operation, params in asked.requests
        if operation == "TransactWriteItems"
        for entry in params["TransactItems"]
        if "Put" in entry and entry["Put"]["Item"]["SK"]["S"].startswith(keys.TABLE_PREFIX)
    ]


def _table_names(ingestor: Ingestor) -> list[str]:
    items = ingestor.services.clients.dynamodb.query(
        TableName=ingestor.services.settings.table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
        ExpressionAttributeValues={
            ":pk": {"S": keys.tenant_partition(ingestor.account.tenant_id)},
            ":sk": {"S": keys.TABLE_PREFIX},
        },
        ConsistentRead=True,
    )["Items"]
    return sorted(item["name"]["S"] for item in items)


def test_the_1002nd_file_of_a_name_is_named_in_two_tries(ingestor: Ingestor) -> None:
    _taken(ingestor, ["sales", *(f"sales_{n}" for n in range(2, 1002))])
    _counter(ingestor, "sales", 1001)
    with dynamodb_asked(ingestor.services, ingestor.account.tenant_id) as asked:
        record = ingestor.upload("sales.csv", CSV)
    assert (record["status"], record["table"]) == ("READY", "sales_1002")
    assert _names_tried(asked) == ["sales", "sales_1002"]


def test_names_taken_before_the_counter_are_stepped_over_once(ingestor: Ingestor) -> None:
    _taken(ingestor, ["sales", "sales_2", "sales_3", "sales_4", "sales_5"])
    assert ingestor.upload("sales.csv", CSV)["table"] == "sales_6"
    with dynamodb_asked(ingestor.services, ingestor.account.tenant_id) as asked:
        record = ingestor.upload("sales.csv", CSV)
    assert record["table"] == "sales_7"
    assert _names_tried(asked) == ["sales", "sales_7"]


def test_a_file_named_like_a_suffixed_name_is_stepped_over(ingestor: Ingestor) -> None:
    assert ingestor.upload("sales.csv", CSV)["table"] == "sales"
    assert ingestor.upload("sales_2.csv", CSV)["table"] == "sales_2"
    with dynamodb_asked(ingestor.services, ingestor.account.tenant_id) as asked:
        assert ingestor.upload("sales.csv", CSV)["table"] == "sales_3"
    assert _names_tried(asked) == ["sales", "sales_2", "sales_3"]


@pytest.mark.parametrize("made", ["sales", "sales_7"])
def test_an_attempt_takes_back_a_table_an_earlier_attempt_at_its_file_made(ingestor: Ingestor, made: str) -> None:
    """An attempt that died after making the file's table (and taking its partition 1, in the same
    write, listed on the record) left the table with no file: the next attempt takes it again, not
    one more name, and withdraws the dead attempt's partition once READY."""
    tenant_id = ingestor.account.tenant_id
    file_id = upload_direct(ingestor.api, ingestor.account, "sales.csv", CSV).body["file_id"]
    if made != "sales":  # `sales` was another file's: the dead attempt took the counter's next suffix
        _taken(ingestor, ["sales"])
        _counter(ingestor, "sales", 7)
    table_id = _made(ingestor, made, file_id, 0, pending=1)
    dynamodb, items = ingestor.services.clients.dynamodb, ingestor.services.settings.table_name
    dynamodb.update_item(
        TableName=items,
        Key=to_item(keys.file(tenant_id, file_id)),
        UpdateExpression="ADD table_seqs :entry, claims :one",  # as the dead attempt's claim left it
        ExpressionAttributeValues={":entry": {"SS": [seq_entry(made, table_id, 1)]}, ":one": {"N": "1"}},
    )
    ingestor.drain()
    table = ingestor.tenant.tables.get(tenant_id, made)
    assert table is not None
    assert (table.table_id, table.file_count, table.pending, table.gone) == (table_id, 1, frozenset(), frozenset())
    record = ingestor.record(file_id)
    assert (record["status"], record["table"]) == ("READY", made)
    assert _table_names(ingestor) == sorted({"sales", made})
    counter = ingestor.services.clients.dynamodb.get_item(
        TableName=ingestor.services.settings.table_name, Key=to_item(keys.table_suffix(tenant_id, "sales"))
    ).get("Item")
    # No suffix handed out for it: the counter is as the dead attempt left it.
    assert (counter or {}).get("last_suffix") == (None if made == "sales" else {"N": "7"})

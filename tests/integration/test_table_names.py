"""Table names stay unique in the tenant at a cost that does not grow with how many of a name it
holds: `sales`, then `sales_N` from the name's own counter."""

from __future__ import annotations

from chalicelib import keys
from chalicelib.aws.dynamo import to_item, value
from chalicelib.ids import new_id
from tests.api import upload_direct
from tests.ingestor import Ingestor
from tests.tenant_items import Asked, dynamodb_asked

CSV = b"region,amount\nnorth,1.5\nsouth,2\n"


def _taken(ingestor: Ingestor, names: list[str]) -> None:
    """Names held by another file, as earlier uploads of the same name leave them."""
    dynamodb, table = ingestor.services.clients.dynamodb, ingestor.services.settings.table_name
    holder = new_id()
    for name in names:
        item = {**keys.table(ingestor.account.tenant_id, name), "name": name, "file_id": holder}
        dynamodb.put_item(TableName=table, Item=to_item(item))


def _names_tried(asked: Asked) -> list[str]:
    """The table names ingest tried to take, in order."""
    return [
        item["Put"]["Item"]["name"]["S"]
        for operation, params in asked.requests
        if operation == "TransactWriteItems"
        for item in params["TransactItems"]
        if "Put" in item and item["Put"]["Item"]["SK"]["S"].startswith(keys.TABLE_PREFIX)
    ]


def test_the_1002nd_file_of_a_name_is_named_in_two_tries(ingestor: Ingestor) -> None:
    tenant_id = ingestor.account.tenant_id
    _taken(ingestor, ["sales", *(f"sales_{n}" for n in range(2, 1002))])
    ingestor.services.clients.dynamodb.put_item(  # the name's counter, as those uploads left it
        TableName=ingestor.services.settings.table_name,
        Item=to_item({**keys.table_suffix(tenant_id, "sales"), "last_suffix": 1001}),
    )
    with dynamodb_asked(ingestor.services, tenant_id) as asked:
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


def test_an_attempt_takes_back_a_name_its_file_already_holds(ingestor: Ingestor) -> None:
    """An attempt that died after taking a name left it with the file: the next takes it again,
    not one more name."""
    tenant_id = ingestor.account.tenant_id
    _taken(ingestor, ["sales"])
    dynamodb, table = ingestor.services.clients.dynamodb, ingestor.services.settings.table_name
    file_id = upload_direct(ingestor.api, ingestor.account, "sales.csv", CSV).body["file_id"]
    dynamodb.put_item(
        TableName=table, Item=to_item({**keys.table(tenant_id, "sales_7"), "name": "sales_7", "file_id": file_id})
    )
    dynamodb.update_item(
        TableName=table,
        Key=to_item(keys.file(tenant_id, file_id)),
        UpdateExpression="ADD table_names :name",
        ExpressionAttributeValues={":name": value({"sales_7"})},
    )
    ingestor.drain()
    assert ingestor.record(file_id)["table"] == "sales_7"
    assert dynamodb.get_item(TableName=table, Key=to_item(keys.table_suffix(tenant_id, "sales"))).get("Item") is None

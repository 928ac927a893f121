"""The local DynamoDB: moto's, with DynamoDB's costs.

moto keeps a table's items in plain dicts. Each Query walks every item of the table and sorts the
partition it asked for; each transaction deep-copies every table it touches before it starts, so
that it can put them back if cancelled. Both cost O(items in the table) per call, and the local
platform holds every tenant in one table: an ingest, an upload or a listing got slower and
churned more memory with every file stored anywhere.

Here a table keeps each partition sorted by its sort key, so a Query reads from where its key
condition and start key place it and stops at its Limit; and a transaction saves only the items it
writes, to put back if cancelled. moto also parses every condition and update expression afresh,
twice a request (to validate the request, then to apply it), where a platform sends the same few
expressions over and over: here each expression's text is parsed once (a fifth of a file's time
on the local platform went to parsing them). moto then validates an update expression by deep-copying
its tree and walking it ten times; here what the expression alone decides is checked once, and the
tree is copied from its pickle (`LocalUpdateValidator`: a settled file's update took a third less).

moto holds an item's every attribute value as an object with a dictionary of its own; here an item
is kept packed between requests, and unpacked only while a request reads it (`CompactItem`).

Whatever this does not cover (an index, the legacy KeyConditions, a sort key that is not a
string) is left to moto as it is; and what a request answers is moto's own answer, which tests
compare call for call.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import json
import pickle
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult
from moto.dynamodb import models as moto_dynamodb_models
from moto.dynamodb import urls as moto_dynamodb_urls
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
from moto.dynamodb.parsing.ast_nodes import Node
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.parsing.validators import (
    ActionCountValidator,
    OverlappingPathsValidator,
    UpdateExpressionValidator,
    UpdateHashRangeKeyValidator,
)
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from sortedcontainers import SortedDict

from localplatform.prefixes import after_prefix


class PagedTable(Table):
    """A moto table whose partitions are sorted by sort key (`items[hash][range]`, a SortedDict)."""

    # While a transaction runs, a deep copy of the table is the table itself: moto's snapshot
    # before the transaction costs nothing, and putting it back changes nothing; the transaction
    # puts back the items it saved instead (`LocalDynamoDB.transact_write_items`).
    copied_as_itself = False

    def __deepcopy__(self, memo: dict[int, Any]) -> PagedTable:
        if self.copied_as_itself:
            return self
        copied = self.__class__.__new__(self.__class__)
        memo[id(self)] = copied
        copied.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return copied

    def put_item(self, *args: Any, **kwargs: Any) -> Item:  # type: ignore[override]
        item = super().put_item(*args, **kwargs)
        item.__class__ = CompactItem  # built by moto; packed once the request is answered
        _compact_after_request(item)
        return item

    def query(  # type: ignore[override]
        self,
        hash_key: DynamoType | None,
        range_comparison: str | None,
        range_objs: list[DynamoType],
        limit: int | None,
        exclusive_start_key: dict[str, Any] | None,
        scan_index_forward: bool,
        projection_expressions: list[list[str]] | None,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: list[tuple[str, DynamoType]] | None = None,
        range_key_conditions: list[tuple[str, str, list[DynamoType]]] | None = None,
        **filter_kwargs: Any,
    ) -> tuple[list[Item], int, dict[str, Any] | None]:
        bounds = None
        if index_name is None and not filter_kwargs and len(range_key_conditions or []) <= 1:
            bounds = _bounds(range_comparison, range_objs)
        if bounds is None:
            return super().query(
                hash_key,
                range_comparison,
                range_objs,
                limit,
                exclusive_start_key,
                scan_index_forward,
                projection_expressions,
                index_name,
                consistent_read,
                filter_expression,
                hash_key_conditions=hash_key_conditions,
                range_key_conditions=range_key_conditions,
                **filter_kwargs,
            )
        start = None
        if exclusive_start_key and self.range_key_attr in exclusive_start_key:
            start = DynamoType(exclusive_start_key[self.range_key_attr])
        partition = self.items.get(hash_key) if hash_key is not None else None
        results: list[Item] = []
        size = 0
        last_evaluated_key = None
        for item in _keyed_items(partition, bounds, start, scan_index_forward):
            if size + item.size() > RESULT_SIZE_LIMIT:
                last_evaluated_key = self._get_last_evaluated_key(results[-1], None)
                break
            results.append(item)
            size += item.size()
            if len(results) == limit:
                # As moto answers: the page names its last item if the partition holds any item
                # after it, whether or not the key condition would take it.
                if _any_after(partition, item.range_key, scan_index_forward):
                    last_evaluated_key = self._get_last_evaluated_key(item, None)
                break
        scanned = len(results)
        if filter_expression is not None:  # judged on the items as stored: only those it keeps are copied
            results = [item for item in results if filter_expression.expr(item)]
        results = copy.deepcopy(results)  # the page only: the caller may change what it is given
        if projection_expressions:
            results = [item.project(projection_expressions) for item in results]
        return results, scanned, last_evaluated_key


class CompactItem(Item):
    """An item of a table, kept between requests packed in one bytes object (pickled, so that
    every value comes back as it was, bytes and numbers' text included).

    moto holds an item's every attribute value as an object with a dictionary of its own (a
    file's record, with its columns, as about a hundred): 8 KiB a file, several times its packed
    size. The attributes are unpacked when a request first reads them, and packed again once the
    request has been answered (`_compact_after_request`).
    """

    @property  # type: ignore[override]
    def attrs(self) -> LimitedSizeDict:
        attrs = self.__dict__.get("attrs")
        if attrs is None:
            attrs = self.__dict__["attrs"] = _attributes(self.__dict__.pop("packed"))
            _compact_after_request(self)
        return attrs

    @attrs.setter
    def attrs(self, attrs: LimitedSizeDict) -> None:
        self.__dict__.pop("packed", None)
        self.__dict__["attrs"] = attrs
        _compact_after_request(self)

    def compact(self) -> None:
        attrs = self.__dict__.pop("attrs", None)
        if attrs is not None:
            self.__dict__["packed"] = pickle.dumps(dict(attrs), pickle.HIGHEST_PROTOCOL)

    def __deepcopy__(self, memo: dict[int, Any]) -> Item:
        """A plain item (a query's page, an item saved by a transaction), unpacked afresh when the
        item is packed: copying does not unpack this one."""
        copied = Item.__new__(Item)
        memo[id(self)] = copied
        copied.hash_key = copy.deepcopy(self.hash_key, memo)
        copied.range_key = copy.deepcopy(self.range_key, memo)
        packed = self.__dict__.get("packed")
        if packed is not None:
            copied.attrs = _attributes(packed)
        else:
            attrs = LimitedSizeDict.__new__(LimitedSizeDict)
            dict.__init__(attrs, {name: copy.deepcopy(value, memo) for name, value in self.attrs.items()})
            copied.attrs = attrs
        return copied


def _attributes(packed: bytes) -> LimitedSizeDict:
    """An item's attributes, unpacked; the item was checked when it was written."""
    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.__init__(attrs, pickle.loads(packed))  # noqa: S301 - packed by this process, from its own items
    return attrs


# The items read or written by the request being answered, packed again once it is answered.
_read_items: contextvars.ContextVar[list[CompactItem] | None] = contextvars.ContextVar("read_items", default=None)


def _compact_after_request(item: CompactItem) -> None:
    read = _read_items.get()
    if read is not None:
        read.append(item)


def _keyed_items(partition: Any, bounds: _Bounds, start: DynamoType | None, forward: bool) -> Iterator[Item]:
    """The partition's items within the bounds, in order, after the start key."""
    if not partition:
        return
    low, high = bounds.low, bounds.high
    low_inclusive, high_inclusive = bounds.low_inclusive, bounds.high_inclusive
    if start is not None:  # the page goes on after the start key, never before the bounds
        if forward and (low is None or start.cast_value >= low):
            low, low_inclusive = start.cast_value, False
        if not forward and (high is None or start.cast_value <= high):
            high, high_inclusive = start.cast_value, False
    for key in partition.irange(_key(low), _key(high), inclusive=(low_inclusive, high_inclusive), reverse=not forward):
        yield partition[key]


def _any_after(partition: Any, key: DynamoType, forward: bool) -> bool:
    """Whether the partition holds an item after `key` in the query's order."""
    following = (
        partition.irange(minimum=key, inclusive=(False, False))
        if forward
        else partition.irange(maximum=key, inclusive=(False, False), reverse=True)
    )
    return next(following, None) is not None


@dataclass(frozen=True)
class _Bounds:
    """The sort keys a key condition allows, from `low` to `high` (None: no bound)."""

    low: str | None = None
    high: str | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True


def _bounds(comparison: str | None, operands: list[DynamoType]) -> _Bounds | None:
    """The bounds of a sort-key condition on strings; None for one this does not place."""
    if not all(operand.type == "S" for operand in operands):
        return None
    values = [operand.cast_value for operand in operands]
    match comparison:
        case None:
            return _Bounds()
        case "EQ":
            return _Bounds(values[0], values[0])
        case "LT" | "LE":
            return _Bounds(high=values[0], high_inclusive=comparison == "LE")
        case "GT" | "GE":
            return _Bounds(low=values[0], low_inclusive=comparison == "GE")
        case "BETWEEN":
            return _Bounds(values[0], values[1])
        case "BEGINS_WITH":
            return _Bounds(values[0], after_prefix(values[0]), high_inclusive=False)
    return None


def _key(value: str | None) -> DynamoType | None:
    return None if value is None else DynamoType({"S": value})


# Answers whose results moto builds in DynamoDB's own JSON already (attribute values as
# {"S": ...}, numbers as strings): written out as they are. moto's serializer walks every member
# of every attribute value against the API's model, which took half of a small request's time.
PLAIN_JSON_ACTIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchGetItem", "TransactWriteItems"}
)


class PlainJsonHandler(DynamoHandler):
    """moto's DynamoDB requests handler, writing the items it answers with as plain JSON, and
    parsing each expression's text once for the local DynamoDB."""

    def call_action(self) -> Any:
        if not isinstance(self.dynamodb_backend, LocalDynamoDB):
            return super().call_action()
        parsing, read = _parsing_once.set(True), _read_items.set([])
        try:
            return super().call_action()
        finally:
            for item in _read_items.get() or []:
                item.compact()
            _read_items.reset(read)
            _parsing_once.reset(parsing)

    def serialized(self, action_result: ActionResult) -> Any:
        result = action_result.result
        if type(action_result) is not DynamoResult or self._get_action() not in PLAIN_JSON_ACTIONS:
            return super().serialized(action_result)
        try:
            body = json.dumps(result)
        except TypeError:  # not plain JSON after all: moto's serializer knows what it holds
            return super().serialized(action_result)
        headers = {"Content-Type": "application/x-amz-json-1.0"} | self.response_headers
        return 200, headers, body


class _Routes:
    """moto's DynamoDB routes, answered by `PlainJsonHandler`."""

    url_bases = moto_dynamodb_urls.url_bases
    url_paths = dict.fromkeys(moto_dynamodb_urls.url_paths, PlainJsonHandler.dispatch)


class LocalDynamoDB(DynamoDBBackend):
    """moto's DynamoDB backend with sorted partitions and transactions that save only what they write."""

    @property
    def _url_module(self) -> Any:
        return _Routes  # moto finds a backend's routes next to its class's module

    def create_table(self, name: str, **params: Any) -> Table:  # type: ignore[override]
        table = super().create_table(name, **params)
        if table.range_key_attr is not None and table.range_key_type == "S":
            table.__class__ = PagedTable  # built by moto; only its behaviour changes
            table.items = defaultdict(SortedDict)
        return table

    def transact_write_items(self, transact_items: list[dict[str, Any]]) -> None:
        saved = [self._saved(operation) for operation in transact_items]
        tables = {name: self.tables[name] for name, _, _ in saved if isinstance(self.tables.get(name), PagedTable)}
        for table in tables.values():
            table.copied_as_itself = True
        try:
            super().transact_write_items(transact_items)
        except BaseException:
            # moto has put back its "copies" (the tables themselves); the items saved go back in.
            for table_name, key, item in saved:
                table = tables.get(table_name)
                if table is None or key is None:
                    continue
                hash_key, range_key = key
                partition = table.items[hash_key]
                if item is None:
                    partition.pop(range_key, None)
                else:
                    partition[range_key] = item
            raise
        finally:
            for table in tables.values():
                table.copied_as_itself = False

    def _saved(self, operation: dict[str, Any]) -> tuple[str, tuple[DynamoType, DynamoType] | None, Item | None]:
        """The table, key and a copy of the item (None if absent) one operation may change."""
        _, request = next(iter(operation.items()))
        table_name = request.get("TableName", "")
        table = self.tables.get(table_name)
        if not isinstance(table, PagedTable):
            return table_name, None, None
        attributes = request.get("Key") or request.get("Item") or {}
        try:
            key = DynamoType(attributes[table.hash_key_attr]), DynamoType(attributes[table.range_key_attr])
        except (KeyError, TypeError):
            return table_name, None, None  # moto refuses the request before it writes anything
        return table_name, key, copy.deepcopy(table.get_item(*key))


# Distinct expression texts kept parsed; a platform sends a few dozen.
PARSED_EXPRESSIONS = 512

_moto_update_parse: Callable[..., Any] = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]
_moto_condition_lex: Callable[..., Any] = ConditionExpressionParser._lex_condition_expression


@functools.lru_cache(maxsize=PARSED_EXPRESSIONS)
def _parsed_update(expression: str) -> Any:
    """An update expression's tree. Shared: the validator works on a copy of it, made from the
    tree's own pickle (`pickled`, set once the tree is pickled: its copies do not carry it)."""
    tree = _moto_update_parse(UpdateExpressionParser, expression)
    tree.pickled = pickle.dumps(tree, pickle.HIGHEST_PROTOCOL)
    return tree


class LocalUpdateValidator(UpdateExpressionValidator):
    """moto's validator of an update expression, doing once what depends on the expression alone.

    moto deep-copies the tree for every request and walks it once for each of its ten checks. Three
    of them depend only on the expression, its attribute names and the table's keys (one clause of
    each kind, no overlapping paths, no key updated): here they are run once for each of those, and
    a copy is made from the tree's pickle, five times faster than a deep copy. A tree that moto
    parsed itself (moto's own backends in the same process) is validated as moto does.
    """

    def __init__(
        self,
        expression: Node,
        expression_attribute_names: dict[str, str],
        expression_attribute_values: dict[str, dict[str, Any]],
        item: Item,
        table: Table,
    ) -> None:
        self._pickled: bytes | None = getattr(expression, "pickled", None)
        if self._pickled is None:
            super().__init__(expression, expression_attribute_names, expression_attribute_values, item, table)
            return
        self.expression_attribute_names = expression_attribute_names
        self.expression_attribute_values = expression_attribute_values
        self.item = item
        self.table = table
        self.processors = self.get_ast_processors()
        self.node_to_validate = pickle.loads(self._pickled)  # noqa: S301 - pickled by this process

    def get_ast_processors(self) -> list[Any]:
        processors = super().get_ast_processors()
        if self._pickled is None:
            return processors
        return [processor for processor in processors if not isinstance(processor, _EXPRESSION_ALONE)]

    def validate(self) -> Node:
        if self._pickled is not None:
            names = tuple(sorted((self.expression_attribute_names or {}).items()))
            _checked_alone(self._pickled, names, tuple(self.table.table_key_attrs))
        return super().validate()


# The checks of an update expression that depend on it, its names and the table's keys alone.
_EXPRESSION_ALONE = (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator)


@functools.lru_cache(maxsize=PARSED_EXPRESSIONS)
def _checked_alone(pickled: bytes, names: tuple[tuple[str, str], ...], keys: tuple[str, ...]) -> None:
    """Run the checks that depend on the expression alone, in moto's order; raises moto's error
    (not remembered: the same request fails the same way each time)."""
    tree = pickle.loads(pickled)  # noqa: S301 - pickled by this process
    for check in (
        ActionCountValidator(),
        OverlappingPathsValidator(dict(names)),
        UpdateHashRangeKeyValidator(list(keys), dict(names)),
    ):
        tree = check.traverse(tree)


@functools.lru_cache(maxsize=PARSED_EXPRESSIONS)
def _lexed_condition(expression: str) -> tuple[Any, ...]:
    """A condition expression's tokens (immutable tuples), before names and values are put in."""
    parser = ConditionExpressionParser(expression, {}, {})
    return tuple(_moto_condition_lex(parser))


# Set while the local DynamoDB answers a request: moto's own backends, in the same process, parse
# as moto does.
_parsing_once: contextvars.ContextVar[bool] = contextvars.ContextVar("parsing_once", default=False)


def _parse_update(cls: type, expression: str) -> Any:
    return _parsed_update(expression) if _parsing_once.get() else _moto_update_parse(cls, expression)


def _lex_condition(parser: ConditionExpressionParser) -> deque[Any]:
    if not _parsing_once.get():
        return _moto_condition_lex(parser)
    return deque(_lexed_condition(parser.condition_expression))


def install(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> LocalDynamoDB:
    """Make the local DynamoDB the one moto answers with for this account and region."""
    UpdateExpressionParser.make = classmethod(_parse_update)  # type: ignore[method-assign,assignment]
    ConditionExpressionParser._lex_condition_expression = _lex_condition  # type: ignore[method-assign]
    moto_dynamodb_models.UpdateExpressionValidator = LocalUpdateValidator  # type: ignore[misc]
    backend = LocalDynamoDB(region, account_id)
    dynamodb_backends[account_id][region] = backend
    return backend


def uninstall(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Empty the local DynamoDB and give the account and region back to moto's own, made afresh
    on first use."""
    UpdateExpressionParser.make = classmethod(_moto_update_parse)  # type: ignore[method-assign,assignment]
    ConditionExpressionParser._lex_condition_expression = _moto_condition_lex  # type: ignore[method-assign]
    moto_dynamodb_models.UpdateExpressionValidator = UpdateExpressionValidator  # type: ignore[misc]
    backend = dynamodb_backends[account_id].pop(region, None)
    if backend is not None:
        backend.reset()

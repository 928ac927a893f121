"""The SQL guard: the allow-list of constructs and functions, scope-aware table checks, clear
errors, and the hostile corpus."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlglot import exp

from chalicelib.queries.guard import FUNCTIONS, ForbiddenSql, Guarded, InvalidSql, guard, parse
from tests.conftest import ROOT
from tests.hostile_sql import CORPUS, Places, corpus

OWN = "sdp_local_01aaaaaaaaaaaaaaaaaaaaaaaa"
OTHER = "sdp_local_01bbbbbbbbbbbbbbbbbbbbbbbb"
TABLES = ["sales", "orders"]
PLACES = Places(
    own=OWN,
    other=OTHER,
    own_folder="/warehouse/01A",
    other_folder="/warehouse/01B",
    other_file="/warehouse/01B/F3/part-0.parquet",
    traversal_file="/warehouse/01A/../01B/F3/part-0.parquet",
    outside_file="/etc/passwd",
    outside_dir="/tmp",
)


def test_the_corpus_holds_over_a_hundred_statements() -> None:
    assert len(CORPUS) >= 100


@pytest.mark.parametrize("sql", corpus(PLACES), ids=range(len(CORPUS)))
def test_every_hostile_statement_is_refused(sql: str) -> None:
    with pytest.raises((InvalidSql, ForbiddenSql)):
        guard(sql, TABLES, OWN)


PASSING = [
    ("SELECT * FROM sales", {"sales"}),
    ("select region, count(*) from SALES group by 1", {"sales"}),
    ('SELECT * FROM "Sales"', {"sales"}),
    (f"SELECT * FROM {OWN}.sales", {"sales"}),
    (f'SELECT * FROM "{OWN}"."orders" o JOIN sales s ON o.id = s.id', {"sales", "orders"}),
    ("WITH t AS (SELECT * FROM sales) SELECT * FROM t JOIN orders ON true", {"sales", "orders"}),
    ("WITH secrets AS (SELECT 1 AS x) SELECT * FROM secrets", set()),
    ("WITH Big AS (SELECT 1 AS x) SELECT * FROM big", set()),
    ("WITH a AS (SELECT 1 AS x) SELECT * FROM (SELECT * FROM a) b", set()),
    ("WITH a AS (SELECT 1 AS x) SELECT * FROM (SELECT 2 AS y) AS sales, a", set()),
    ("SELECT * FROM (SELECT 1 AS x) AS orders, sales", {"sales"}),
    ("SELECT * FROM sales UNION ALL SELECT * FROM orders", {"sales", "orders"}),
    ("SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(n, s)", set()),
    ("VALUES 1, 2, 3", set()),
    ("SELECT * FROM sales CROSS JOIN UNNEST(ARRAY[1, 2]) AS t(x)", {"sales"}),
    ("SELECT region, row_number() OVER (PARTITION BY region ORDER BY amount) FROM sales", {"sales"}),
    ("SELECT date_trunc('month', day), approx_distinct(region) FROM sales GROUP BY 1", {"sales"}),
    ("SELECT url_extract_host('https://x.org/a'), map_agg(region, amount) FROM sales", {"sales"}),
    ("SELECT transform(ARRAY[1, 2], x -> x * 2)", set()),
    ("SELECT * FROM sales WHERE region LIKE 'n%' ORDER BY amount DESC LIMIT 10", {"sales"}),
    (
        "SELECT NOT a AND (b OR c), a || b, -a, a % 2, a IS DISTINCT FROM b, x[1], "
        "CASE WHEN a IS NULL THEN 1 ELSE 2 END FROM sales WHERE a BETWEEN 1 AND 2 AND b IN (1, 2)",
        {"sales"},
    ),
    (
        "SELECT * FROM sales WHERE EXISTS (SELECT 1 FROM orders) OR id = ANY (SELECT id FROM orders)",
        {"sales", "orders"},
    ),
    ("SELECT region, sum(amount), grouping(region) FROM sales GROUP BY ROLLUP (region)", {"sales"}),
    ("SELECT region, count(*) FROM sales GROUP BY CUBE (region, day)", {"sales"}),
    ("SELECT region, count(*) FROM sales GROUP BY GROUPING SETS ((region), ())", {"sales"}),
    ("SELECT * FROM sales ORDER BY amount FETCH FIRST 3 ROWS ONLY", {"sales"}),
    ("SELECT * FROM sales ORDER BY amount OFFSET 2 ROWS FETCH NEXT 3 ROWS WITH TIES", {"sales"}),
    ('SELECT "user", _underscore, "a$b" FROM sales', {"sales"}),
    ("SELECT current_date, current_timestamp, localtimestamp, now()", set()),
    ("SELECT 1 -- trailing comment", set()),
    ("SELECT 1;", set()),
]


@pytest.mark.parametrize(("sql", "tables"), PASSING)
def test_read_only_queries_over_own_tables_pass(sql: str, tables: set[str]) -> None:
    assert guard(sql, TABLES, OWN).tables == frozenset(tables)


# Refused for their tables alone: which one, and why, must not depend on what was looked up.
REFUSED_FOR_TABLES = [
    "SELECT * FROM secrets",
    "SELECT * FROM sales, nothing_here, orders",
    "SELECT * FROM nothing_here, sales, other_missing",
    f"SELECT * FROM {OTHER}.sales",
    f"SELECT * FROM sales, awsdatacatalog.{OWN}.orders",
    "SELECT * FROM (SELECT 1 x) AS duckdb_settings, duckdb_settings",
    'SELECT * FROM "a b", sales',
    'SELECT * FROM "' + "x" * 2000 + '"',
    "WITH t AS (SELECT * FROM missing) SELECT * FROM t, sales",
    f"WITH sales AS (SELECT 1 AS x) SELECT * FROM {OWN}.sales, sales",
]
EVERY_TABLE = [*TABLES, *(f"t{n}" for n in range(50))]  # the tenant holds many more than a query names


@pytest.mark.parametrize(
    "sql", [*corpus(PLACES), *(sql for sql, _ in PASSING), *REFUSED_FOR_TABLES], ids=lambda sql: sql[:60]
)
def test_a_query_guarded_over_the_tables_it_names_is_judged_as_over_every_table(sql: str) -> None:
    def over_named_tables() -> Guarded:
        parsed = parse(sql)
        return parsed.guarded([name for name in parsed.table_names(OWN) if name in EVERY_TABLE], OWN)

    assert _judged(over_named_tables) == _judged(lambda: guard(sql, EVERY_TABLE, OWN))


def _judged(judge: Callable[[], Guarded]) -> tuple[str, ...]:
    try:
        guarded = judge()
    except (InvalidSql, ForbiddenSql) as refused:
        return type(refused).__name__, refused.message
    return "passed", *sorted(guarded.tables)


@pytest.mark.parametrize(
    ("sql", "names"),
    [
        ("WITH sales AS (SELECT * FROM orders) SELECT * FROM sales s JOIN orders ON true", ["orders"]),
        (f'SELECT * FROM "{OWN}".sales, {OTHER}.orders, c.{OWN}.d, "E"', ["sales", "e"]),
        ('SELECT * FROM "Sales", b, sales', ["sales", "b"]),
        ("SELECT * FROM (SELECT 1 x) AS duckdb_settings, duckdb_settings", ["duckdb_settings"]),
        ("WITH a AS (SELECT * FROM b) SELECT * FROM a, c", ["b", "c"]),
        (f"WITH sales AS (SELECT 1 AS x) SELECT * FROM {OWN}.sales", ["sales"]),
        ("VALUES 1", []),
    ],
)
def test_the_names_looked_up_are_the_tables_that_may_be_the_tenants_never_a_cte(sql: str, names: list[str]) -> None:
    assert parse(sql).table_names(OWN) == names


# One typical call of each function on the allow-list, as a data engineer would write it.
CALLS = {
    "any_value": "any_value(x)", "approx_distinct": "approx_distinct(x)",
    "approx_most_frequent": "approx_most_frequent(3, x, 100)", "approx_percentile": "approx_percentile(x, 0.5)",
    "approx_set": "approx_set(x)", "arbitrary": "arbitrary(x)", "array_agg": "array_agg(x ORDER BY x)",
    "avg": "avg(x)", "bitwise_and_agg": "bitwise_and_agg(x)", "bitwise_or_agg": "bitwise_or_agg(x)",
    "bitwise_xor_agg": "bitwise_xor_agg(x)", "bool_and": "bool_and(x > 0)", "bool_or": "bool_or(x > 0)",
    "checksum": "checksum(x)", "corr": "corr(x, y)", "count": "count(*)", "count_if": "count_if(x > 1)",
    "covar_pop": "covar_pop(x, y)", "covar_samp": "covar_samp(x, y)", "every": "every(x > 0)",
    "geometric_mean": "geometric_mean(x)", "histogram": "histogram(x)", "kurtosis": "kurtosis(x)",
    "listagg": "listagg(s, ',') WITHIN GROUP (ORDER BY s)", "map_agg": "map_agg(x, y)", "map_union": "map_union(m)",
    "max": "max(x)", "max_by": "max_by(x, y)", "merge": "merge(approx_set(x))", "min": "min(x)",
    "min_by": "min_by(x, y)", "multimap_agg": "multimap_agg(x, y)", "numeric_histogram": "numeric_histogram(10, x)",
    "reduce_agg": "reduce_agg(x, 0, (a, b) -> a + b, (a, b) -> a + b)", "regr_intercept": "regr_intercept(y, x)",
    "regr_slope": "regr_slope(y, x)", "set_agg": "set_agg(x)", "set_union": "set_union(a)",
    "skewness": "skewness(x)", "stddev": "stddev(x)", "stddev_pop": "stddev_pop(x)",
    "stddev_samp": "stddev_samp(x)", "sum": "sum(x)", "var_pop": "var_pop(x)", "var_samp": "var_samp(x)",
    "variance": "variance(x)",
    "cume_dist": "cume_dist() OVER (ORDER BY x)", "dense_rank": "dense_rank() OVER (ORDER BY x)",
    "first_value": "first_value(x) OVER (ORDER BY x)", "lag": "lag(x, 1) OVER (ORDER BY x)",
    "last_value": "last_value(x) OVER (ORDER BY x)", "lead": "lead(x) OVER (ORDER BY x)",
    "nth_value": "nth_value(x, 2) OVER (ORDER BY x)", "ntile": "ntile(4) OVER (ORDER BY x)",
    "percent_rank": "percent_rank() OVER (ORDER BY x)", "rank": "rank() OVER (ORDER BY x)",
    "row_number": "row_number() OVER (ORDER BY x)",
    "coalesce": "coalesce(x, 0)", "if": "if(x > 1, 'a', 'b')", "nullif": "nullif(x, 0)", "try": "try(x / 0)",
    "cast": "CAST(x AS varchar)", "try_cast": "TRY_CAST(s AS integer)", "format": "format('%s-%d', s, x)",
    "format_number": "format_number(1234567)", "typeof": "typeof(x)",
    "parse_data_size": "parse_data_size('1kB')", "grouping": "grouping(x)",
    "abs": "abs(x)", "acos": "acos(0.5)", "asin": "asin(0.5)", "atan": "atan(1)", "atan2": "atan2(1, 2)",
    "beta_cdf": "beta_cdf(2, 3, 0.5)", "cbrt": "cbrt(27)", "ceil": "ceil(1.5)", "ceiling": "ceiling(1.5)",
    "cos": "cos(0)", "cosh": "cosh(0)", "cosine_similarity": "cosine_similarity(m, m)", "degrees": "degrees(1)",
    "e": "e()", "exp": "exp(1)", "floor": "floor(1.5)", "from_base": "from_base('ff', 16)",
    "greatest": "greatest(1, 2)", "infinity": "infinity()", "inverse_beta_cdf": "inverse_beta_cdf(2, 3, 0.5)",
    "inverse_normal_cdf": "inverse_normal_cdf(0, 1, 0.5)", "is_finite": "is_finite(1.0)",
    "is_infinite": "is_infinite(1.0)", "is_nan": "is_nan(1.0)", "least": "least(1, 2)", "ln": "ln(2)",
    "log": "log(2, 8)", "log10": "log10(100)", "log2": "log2(8)", "mod": "mod(7, 3)", "nan": "nan()",
    "normal_cdf": "normal_cdf(0, 1, 0.5)", "pi": "pi()", "pow": "pow(2, 3)", "power": "power(2, 3)",
    "radians": "radians(180)", "rand": "rand()", "random": "random()", "round": "round(2.5)", "sign": "sign(-2)",
    "sin": "sin(0)", "sinh": "sinh(0)", "sqrt": "sqrt(4)", "tan": "tan(0)", "tanh": "tanh(0)",
    "to_base": "to_base(255, 16)", "truncate": "truncate(2.7)", "width_bucket": "width_bucket(5, 0, 10, 5)",
    "wilson_interval_lower": "wilson_interval_lower(1, 5, 1.96)",
    "wilson_interval_upper": "wilson_interval_upper(1, 5, 1.96)",
    "bit_count": "bit_count(9, 64)", "bitwise_and": "bitwise_and(5, 3)",
    "bitwise_left_shift": "bitwise_left_shift(1, 2)", "bitwise_not": "bitwise_not(5)",
    "bitwise_or": "bitwise_or(5, 3)", "bitwise_right_shift": "bitwise_right_shift(8, 2)",
    "bitwise_right_shift_arithmetic": "bitwise_right_shift_arithmetic(-8, 2)", "bitwise_xor": "bitwise_xor(5, 3)",
    "chr": "chr(65)", "codepoint": "codepoint('A')", "concat": "concat('a', 'b')",
    "concat_ws": "concat_ws(',', 'a', 'b')", "from_utf8": "from_utf8(to_utf8(s))",
    "hamming_distance": "hamming_distance('abc', 'abd')", "length": "length(s)",
    "levenshtein_distance": "levenshtein_distance('a', 'b')", "lower": "lower(s)", "lpad": "lpad(s, 5, '0')",
    "ltrim": "ltrim(s)", "luhn_check": "luhn_check('79927398713')", "normalize": "normalize(s)",
    "position": "position('a' IN s)", "replace": "replace(s, 'a', 'b')", "reverse": "reverse(s)",
    "rpad": "rpad(s, 5, '0')", "rtrim": "rtrim(s)", "soundex": "soundex(s)", "split": "split(s, ',')",
    "split_part": "split_part(s, ',', 1)", "split_to_map": "split_to_map('a=1,b=2', ',', '=')",
    "split_to_multimap": "split_to_multimap('a=1,a=2', ',', '=')", "starts_with": "starts_with(s, 'a')",
    "strpos": "strpos(s, 'a')", "substr": "substr(s, 1, 2)", "substring": "substring(s, 1, 2)",
    "to_utf8": "to_utf8(s)", "translate": "translate(s, 'ab', 'cd')", "trim": "trim(s)", "upper": "upper(s)",
    "word_stem": "word_stem('running')",
    "regexp_count": "regexp_count(s, 'a')", "regexp_extract": "regexp_extract(s, '[0-9]+')",
    "regexp_extract_all": "regexp_extract_all(s, '[0-9]+')", "regexp_like": "regexp_like(s, 'a')",
    "regexp_position": "regexp_position(s, 'a')", "regexp_replace": "regexp_replace(s, 'a', 'b')",
    "regexp_split": "regexp_split(s, ',')",
    "crc32": "crc32(b)", "from_base64": "from_base64('YQ==')", "from_base64url": "from_base64url('YQ')",
    "from_big_endian_32": "from_big_endian_32(b)", "from_big_endian_64": "from_big_endian_64(b)",
    "from_hex": "from_hex('61')", "from_ieee754_32": "from_ieee754_32(b)", "from_ieee754_64": "from_ieee754_64(b)",
    "hmac_md5": "hmac_md5(b, b)", "hmac_sha1": "hmac_sha1(b, b)", "hmac_sha256": "hmac_sha256(b, b)",
    "hmac_sha512": "hmac_sha512(b, b)", "md5": "md5(b)", "murmur3": "murmur3(b)", "sha1": "sha1(b)",
    "sha256": "sha256(b)", "sha512": "sha512(b)", "spooky_hash_v2_32": "spooky_hash_v2_32(b)",
    "spooky_hash_v2_64": "spooky_hash_v2_64(b)", "to_base64": "to_base64(b)", "to_base64url": "to_base64url(b)",
    "to_big_endian_32": "to_big_endian_32(1)", "to_big_endian_64": "to_big_endian_64(1)", "to_hex": "to_hex(b)",
    "to_ieee754_32": "to_ieee754_32(1.0)", "to_ieee754_64": "to_ieee754_64(1.0)", "xxhash64": "xxhash64(b)",
    "is_json_scalar": "is_json_scalar('1')", "json_array": "json_array(1, 2)",
    "json_array_contains": "json_array_contains('[1, 2]', 1)", "json_array_get": "json_array_get('[1, 2]', 0)",
    "json_array_length": "json_array_length('[1, 2]')", "json_exists": "json_exists(j, 'lax $.a')",
    "json_extract": "json_extract(j, '$.a')", "json_extract_scalar": "json_extract_scalar(j, '$.a')",
    "json_format": "json_format(json_parse(j))", "json_object": "json_object('a': 1)", "json_parse": "json_parse(j)",
    "json_query": "json_query(j, 'lax $.a')", "json_size": "json_size(j, '$.a')",
    "json_value": "json_value(j, 'lax $.a')",
    "at_timezone": "at_timezone(ts, 'UTC')", "current_date": "current_date", "current_time": "current_time",
    "current_timestamp": "current_timestamp", "current_timezone": "current_timezone()",
    "date": "date('2024-01-02')", "date_add": "date_add('day', 1, d)", "date_diff": "date_diff('day', d, d)",
    "date_format": "date_format(ts, '%Y')", "date_parse": "date_parse('2024', '%Y')",
    "date_trunc": "date_trunc('month', d)", "day": "day(d)", "day_of_month": "day_of_month(d)",
    "day_of_week": "day_of_week(d)", "day_of_year": "day_of_year(d)", "dow": "dow(d)", "doy": "doy(d)",
    "extract": "EXTRACT(year FROM d)", "format_datetime": "format_datetime(ts, 'yyyy')",
    "from_iso8601_date": "from_iso8601_date('2024-01-02')",
    "from_iso8601_timestamp": "from_iso8601_timestamp('2024-01-02T00:00:00Z')",
    "from_iso8601_timestamp_nanos": "from_iso8601_timestamp_nanos('2024-01-02T00:00:00Z')",
    "from_unixtime": "from_unixtime(0)", "from_unixtime_nanos": "from_unixtime_nanos(0)", "hour": "hour(ts)",
    "human_readable_seconds": "human_readable_seconds(96)", "last_day_of_month": "last_day_of_month(d)",
    "localtime": "localtime", "localtimestamp": "localtimestamp", "millisecond": "millisecond(ts)",
    "minute": "minute(ts)", "month": "month(d)", "now": "now()", "parse_datetime": "parse_datetime('2024', 'yyyy')",
    "parse_duration": "parse_duration('1h')", "quarter": "quarter(d)", "second": "second(ts)",
    "timezone_hour": "timezone_hour(ts)", "timezone_minute": "timezone_minute(ts)", "to_iso8601": "to_iso8601(d)",
    "to_milliseconds": "to_milliseconds(INTERVAL '1' DAY)", "to_unixtime": "to_unixtime(ts)", "week": "week(d)",
    "week_of_year": "week_of_year(d)", "with_timezone": "with_timezone(ts, 'UTC')", "year": "year(d)",
    "year_of_week": "year_of_week(d)", "yow": "yow(d)",
    "all_match": "all_match(a, v -> v > 0)", "any_match": "any_match(a, v -> v > 0)",
    "array_distinct": "array_distinct(a)", "array_except": "array_except(a, a)",
    "array_histogram": "array_histogram(a)", "array_intersect": "array_intersect(a, a)",
    "array_join": "array_join(a, ',')", "array_max": "array_max(a)", "array_min": "array_min(a)",
    "array_position": "array_position(a, 1)", "array_remove": "array_remove(a, 1)", "array_sort": "array_sort(a)",
    "array_union": "array_union(a, a)", "arrays_overlap": "arrays_overlap(a, a)", "cardinality": "cardinality(a)",
    "combinations": "combinations(a, 2)", "contains": "contains(a, 1)",
    "contains_sequence": "contains_sequence(a, ARRAY[1])", "element_at": "element_at(a, 1)",
    "filter": "filter(a, v -> v > 0)", "flatten": "flatten(ARRAY[a])", "ngrams": "ngrams(a, 2)",
    "none_match": "none_match(a, v -> v > 0)", "reduce": "reduce(a, 0, (s, v) -> s + v, s -> s)",
    "repeat": "repeat(1, 3)", "sequence": "sequence(1, 3)", "shuffle": "shuffle(a)", "slice": "slice(a, 1, 2)",
    "transform": "transform(a, v -> v * 2)", "trim_array": "trim_array(a, 1)", "zip": "zip(a, a)",
    "zip_with": "zip_with(a, a, (p, q) -> p + q)",
    "map": "map(ARRAY[1], ARRAY[2])", "map_concat": "map_concat(m, m)", "map_entries": "map_entries(m)",
    "map_filter": "map_filter(m, (k, v) -> v > 0)", "map_from_entries": "map_from_entries(ARRAY[(1, 'a')])",
    "map_keys": "map_keys(m)", "map_values": "map_values(m)", "map_zip_with": "map_zip_with(m, m, (k, p, q) -> p + q)",
    "multimap_from_entries": "multimap_from_entries(ARRAY[(1, 'a')])", "row": "ROW(1, 'a')",
    "transform_keys": "transform_keys(m, (k, v) -> k)", "transform_values": "transform_values(m, (k, v) -> v)",
    "url_decode": "url_decode(s)", "url_encode": "url_encode(s)", "url_extract_fragment": "url_extract_fragment(s)",
    "url_extract_host": "url_extract_host(s)", "url_extract_parameter": "url_extract_parameter(s, 'a')",
    "url_extract_path": "url_extract_path(s)", "url_extract_port": "url_extract_port(s)",
    "url_extract_protocol": "url_extract_protocol(s)", "url_extract_query": "url_extract_query(s)",
    "great_circle_distance": "great_circle_distance(1.0, 2.0, 3.0, 4.0)", "st_area": "st_area(g)",
    "st_astext": "st_astext(g)", "st_buffer": "st_buffer(g, 1.0)", "st_contains": "st_contains(g, g)",
    "st_distance": "st_distance(g, g)", "st_geometryfromtext": "st_geometryfromtext('POINT (1 2)')",
    "st_intersects": "st_intersects(g, g)", "st_length": "st_length(g)", "st_linestring": "st_linestring(a)",
    "st_point": "st_point(1.0, 2.0)", "st_polygon": "st_polygon('POLYGON ((0 0, 1 0, 1 1, 0 0))')",
    "st_within": "st_within(g, g)", "st_x": "st_x(g)", "st_y": "st_y(g)",
    "to_spherical_geography": "to_spherical_geography(g)", "uuid": "uuid()",
}  # fmt: skip


def test_every_function_on_the_list_has_a_typical_call_here() -> None:
    assert set(CALLS) == FUNCTIONS


@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_listed_function_passes(name: str) -> None:
    guard(f"SELECT {CALLS[name]} FROM sales", TABLES, OWN)


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT current_statement()", "current_statement"),
        ("SELECT host('x')", "host"),
        ("SELECT current_user", "current_user"),
        ("SELECT version()", "version"),
        ("SELECT read_text('/etc/passwd')", "read_text"),
        ("SELECT \"getenv\"('HOME')", "getenv"),
        ("SELECT upper(region), made_up_thing(1) FROM sales", "made_up_thing"),
        ("SELECT current_catalog", "current_catalog"),
        ("SELECT list_value(1, 2)", "list_value"),
        ("SELECT json_table('[]', '$' COLUMNS (a int))", "json_table"),
    ],
)
def test_a_function_not_on_the_list_is_refused_by_its_name(sql: str, named: str) -> None:
    with pytest.raises(ForbiddenSql) as raised:
        guard(sql, TABLES, OWN)
    assert f"Function '{named}' is not available" in raised.value.message


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("SELECT region FROM sales WHERE region GLOB 'n*'", "GLOB is not available"),
        ("SELECT region FROM sales WHERE region SIMILAR TO 'n%'", "SIMILAR TO is not available"),
        ("SELECT string_agg(region, ',') FROM sales", "WITHIN GROUP (ORDER BY"),
        ("SELECT group_concat(region) FROM sales", "WITHIN GROUP (ORDER BY"),
        ("SELECT listagg(region, ',') FROM sales", "WITHIN GROUP (ORDER BY"),
    ],
)
def test_what_reads_as_athena_sql_but_athena_would_not_run_is_refused(sql: str, words: str) -> None:
    with pytest.raises(ForbiddenSql, match=re.escape(words)):
        guard(sql, TABLES, OWN)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT listagg(region, ',') WITHIN GROUP (ORDER BY region) FROM sales",
        "SELECT string_agg(region, ',' ORDER BY region) FROM sales",  # written as Athena's listagg
        "SELECT arg_max(region, amount) FROM sales",  # written as Athena's max_by
        "SELECT region FROM sales WHERE region ILIKE 'N%'",  # written as lower() LIKE lower()
    ],
)
def test_what_sqlglot_writes_as_valid_athena_sql_passes(sql: str) -> None:
    guard(sql, TABLES, OWN)


def test_another_tenants_table_and_a_missing_one_get_the_same_words() -> None:
    with pytest.raises(ForbiddenSql) as theirs:
        guard("SELECT * FROM secrets", TABLES, OWN)
    with pytest.raises(ForbiddenSql) as missing:
        guard("SELECT * FROM nothing_here", TABLES, OWN)
    assert theirs.value.message.replace("secrets", "X") == missing.value.message.replace("nothing_here", "X")


def test_a_derived_tables_alias_is_no_table() -> None:
    with pytest.raises(ForbiddenSql, match="Table 'duckdb_settings' does not exist"):
        guard("SELECT * FROM (SELECT 1 x) AS duckdb_settings, duckdb_settings", TABLES, OWN)


def test_a_syntax_error_says_where() -> None:
    with pytest.raises(InvalidSql) as raised:
        guard("SELECT region,\nFROM sales WHERE", TABLES, OWN)
    assert "line 2, column" in raised.value.message
    assert "\x1b" not in raised.value.message


def test_a_construct_cut_short_says_so_without_naming_the_parsers_classes() -> None:
    with pytest.raises(InvalidSql) as raised:
        guard("SELECT (", TABLES, OWN)
    assert raised.value.message == "Syntax error at line 1, column 8: something is missing here."


@pytest.mark.parametrize(
    ("sql", "where"),
    [
        ("SELECT 'open", "line 1, column 8"),
        ("SELECT 1,\n  'x", "line 2, column 3"),
        ('SELECT region\nFROM sales\nWHERE "region = 1', "line 3, column 7"),
    ],
)
def test_an_unterminated_string_says_where_it_starts(sql: str, where: str) -> None:
    with pytest.raises(InvalidSql) as raised:
        guard(sql, TABLES, OWN)
    assert where in raised.value.message


@pytest.mark.parametrize(
    "sql",
    [
        'CREATE TABLE x WITH ("" = 1) AS SELECT 1',  # the parser raises a ValueError of its own
        "SELECT 1 /* never closed",  # the tokenizer fails with an IndexError inside
    ],
)
def test_whatever_the_parser_raises_is_invalid_sql(sql: str) -> None:
    with pytest.raises(InvalidSql):
        guard(sql, TABLES, OWN)


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("SELECT", "SELECT needs at least one column"),
        ("SELECT $1", "'$1' is not a valid name"),
        ("SELECT ? FROM sales", "Query parameters are not supported"),
    ],
)
def test_what_no_engine_could_run_is_refused_up_front(sql: str, words: str) -> None:
    with pytest.raises(InvalidSql, match=re.escape(words)):
        guard(sql, TABLES, OWN)


def test_too_long_a_query_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(InvalidSql, match="256 KiB"):
        guard("SELECT 1 " + " " * 300_000, TABLES, OWN)


def test_tables_are_rewritten_to_the_engines_names_and_ctes_are_left_alone() -> None:
    guarded = guard("WITH sales AS (SELECT * FROM orders) SELECT * FROM sales s JOIN orders ON true", TABLES, OWN)
    rewritten = guarded.with_tables(lambda name: exp.table_(name, db="db1", quoted=True)).sql("athena")
    assert rewritten == (
        'WITH sales AS (SELECT * FROM "db1"."orders" AS orders) '
        'SELECT * FROM sales AS s JOIN "db1"."orders" AS orders ON TRUE'
    )
    assert guarded.tables == {"orders"}


def test_a_name_that_matches_a_derived_tables_alias_is_rewritten_as_the_tenants_table() -> None:
    guarded = guard("SELECT * FROM (SELECT 1 AS x) AS sales, sales", TABLES, OWN)
    rewritten = guarded.with_tables(lambda name: exp.table_(name, db="db1", quoted=True)).sql("athena")
    assert rewritten == 'SELECT * FROM (SELECT 1 AS x) AS sales, "db1"."sales" AS sales'


def test_the_guard_loads_its_dialects_whole_before_any_query_can_use_them() -> None:
    """sqlglot loads a dialect on first use and registers it before its module has finished: two
    first queries at once could meet a half-loaded one. Importing the guard loads both whole."""
    import subprocess
    import sys

    script = (
        "import sys, chalicelib.queries.guard\n"
        "print(hasattr(sys.modules.get('sqlglot.dialects.athena'), '_TrinoTokenizer'),"
        " 'sqlglot.dialects.duckdb' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == ["True", "True"]

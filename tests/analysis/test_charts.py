"""The SVG charts, as pure functions (no database, no Django)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from projects.analysis.charts import (
    ACCENT,
    FLAG,
    FLAG_TEXT,
    ComparisonBar,
    IntervalBar,
    LineageNode,
    bars_svg,
    comparison_svg,
    format_number,
    format_share,
    histogram_svg,
    interval_bars_svg,
    lineage_layers,
    lineage_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
NASTY = '<b>&"quoted"\'s</b>'


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # also proves the markup is well-formed
    assert root.tag == f"{SVG}svg"
    # A drawing whose parts are links is a group of them (a screen reader walks its links),
    # any other one image.
    assert root.get("role") == ("group" if root.find(f"{SVG}a") is not None else "img")
    assert root.get("viewBox") and root.get("width") and root.get("height")
    assert root.find(f"{SVG}title").text
    return root


def with_class(root: ET.Element, tag: str, name: str) -> list[ET.Element]:
    return [el for el in root.iter(f"{SVG}{tag}") if name in (el.get("class") or "").split()]


def texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{SVG}text")]


def nodes_by_label(root: ET.Element) -> dict[str, ET.Element]:
    found = {}
    for group in with_class(root, "g", "node"):
        label = group.findall(f"{SVG}text")[0].text
        found[label] = group.find(f"{SVG}rect")
    return found


# --- formatting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (12, "12"),
        (0.873, "0.873"),
        (1234, "1.2k"),
        (3_400_000, "3.4M"),
        (999_999, "1M"),
        (-0.35, "-0.35"),
    ],
)
def test_it_formats_numbers_compactly(value, text):
    assert format_number(value) == text


def test_it_formats_shares_as_percentages():
    assert format_share(0.12) == "12%"
    assert format_share(0.004) == "0.4%"


# --- histogram ----------------------------------------------------------------------------------


def test_it_draws_one_histogram_bar_per_bin_and_a_zero_bin_has_zero_height():
    bins = [(0, 10, 4), (10, 20, 0), (20, 30, 8)]
    root = parse(histogram_svg(bins, title="Age"))
    bars = with_class(root, "rect", "bar")
    assert len(bars) == 3
    heights = [float(bar.get("height")) for bar in bars]
    assert heights[1] == 0
    assert heights[2] == pytest.approx(2 * heights[0], abs=0.1)


def test_it_labels_the_histogram_range_under_the_axis():
    root = parse(histogram_svg([(0.5, 1, 3), (1, 2500, 7)], title="Income"))
    assert texts(root) == ["0.5", "2.5k"]


def test_it_escapes_the_histogram_title():
    root = parse(histogram_svg([(0, 1, 1)], title=NASTY))
    assert root.find(f"{SVG}title").text == NASTY


# --- bars ---------------------------------------------------------------------------------------


def test_it_draws_bar_lengths_proportional_to_values():
    root = parse(bars_svg([("a", 100), ("b", 50), ("c", 25)], title="Top"))
    widths = [float(bar.get("width")) for bar in with_class(root, "rect", "bar")]
    assert widths[1] == pytest.approx(widths[0] / 2, abs=0.1)
    assert widths[2] == pytest.approx(widths[0] / 4, abs=0.1)


def test_it_colours_flagged_bars_and_explains_the_colour():
    root = parse(bars_svg([("common", 90), ("rare", 3)], title="Labels", flagged={"rare"}))
    common, rare = with_class(root, "rect", "bar")
    assert common.get("fill") == ACCENT
    assert rare.get("fill") == FLAG
    assert "(flagged)" in rare.find(f"{SVG}title").text
    assert "flagged" in texts(root)


def test_it_escapes_bar_labels():
    svg = bars_svg([(NASTY, 5)], title=NASTY, width=600)
    assert "<b>" not in svg
    root = parse(svg)
    assert NASTY in texts(root)
    assert with_class(root, "rect", "bar")[0].find(f"{SVG}title").text == f"{NASTY}: 5"


def test_it_truncates_long_labels_and_keeps_the_full_label_in_the_tooltip():
    label = "Financial services and insurance, including reinsurance"
    root = parse(bars_svg([(label, 5)], title="Sectors"))
    shown = texts(root)[0]
    assert shown.endswith("\u2026") and len(shown) < len(label)
    assert with_class(root, "rect", "bar")[0].find(f"{SVG}title").text.startswith(label)


def test_it_formats_bar_values():
    root = parse(bars_svg([("no", 0.93), ("yes", 0.07)], title="Labels", value_format="share"))
    assert [el.text for el in with_class(root, "text", "value")] == ["93%", "7%"]
    root = parse(bars_svg([("rows", 1234)], title="Rows"))
    assert [el.text for el in with_class(root, "text", "value")] == ["1.2k"]


def test_it_grows_the_bar_chart_with_the_number_of_items():
    short = parse(bars_svg([("a", 1)], title="t"))
    tall = parse(bars_svg([(str(i), i) for i in range(10)], title="t"))
    assert float(tall.get("height")) > float(short.get("height"))


def test_it_refuses_an_unknown_value_format():
    with pytest.raises(ValueError):
        bars_svg([("a", 1)], title="t", value_format="percent")


# --- comparison ---------------------------------------------------------------------------------


def test_it_highlights_the_model_among_baselines_with_a_legend_and_direction():
    series = [
        ComparisonBar("Model", 0.9, kind="model"),
        ComparisonBar("Logistic regression", 0.8, kind="trained"),
        ComparisonBar("Majority class", 0.5),
    ]
    root = parse(comparison_svg(series, metric_label="ROC AUC", higher_is_better=True))
    model, trained, baseline = with_class(root, "rect", "bar")
    assert model.get("fill") == ACCENT
    assert len({model.get("fill"), trained.get("fill"), baseline.get("fill")}) == 3
    assert float(model.get("width")) == pytest.approx(float(baseline.get("width")) * 1.8, abs=0.1)
    words = texts(root)
    assert {"This model", "Trained baseline", "Recorded baseline", "ROC AUC"} <= set(words)
    assert "Higher is better" in words
    lower = comparison_svg(series, metric_label="Log loss", higher_is_better=False)
    assert "Lower is better" in texts(parse(lower))


def test_it_starts_the_scale_at_zero_for_non_negative_metrics():
    series = [ComparisonBar("Model", 0.9, kind="model"), ComparisonBar("Baseline", 0.5)]
    root = parse(comparison_svg(series, metric_label="Accuracy", higher_is_better=True))
    zero = float(with_class(root, "line", "zero-line")[0].get("x1"))
    assert all(float(bar.get("x")) == zero for bar in with_class(root, "rect", "bar"))
    assert not any(text.startswith("-") for text in texts(root))


def test_it_draws_negative_values_left_of_a_zero_line():
    series = [ComparisonBar("Model", 0.4, kind="model"), ComparisonBar("Mean", -0.2)]
    root = parse(comparison_svg(series, metric_label="R\u00b2", higher_is_better=True))
    zero = float(with_class(root, "line", "zero-line")[0].get("x1"))
    positive, negative = with_class(root, "rect", "bar")
    assert float(positive.get("x")) == pytest.approx(zero, abs=0.1)
    assert float(negative.get("x")) + float(negative.get("width")) == pytest.approx(zero, abs=0.1)
    assert float(positive.get("width")) == pytest.approx(2 * float(negative.get("width")), abs=0.1)


def test_it_draws_a_whisker_spanning_one_std_either_side():
    series = [ComparisonBar("Model", 0.6, std=0.1, kind="model"), ComparisonBar("Prior", 0.3)]
    root = parse(comparison_svg(series, metric_label="F1", higher_is_better=True))
    (whisker,) = with_class(root, "g", "whisker")
    span = whisker.findall(f"{SVG}line")[0]
    bar = with_class(root, "rect", "bar")[0]
    per_unit = float(bar.get("width")) / 0.6
    length = float(span.get("x2")) - float(span.get("x1"))
    assert length == pytest.approx(0.2 * per_unit, abs=0.2)
    assert "0.6 \u00b1 0.1" in texts(root)


def test_it_escapes_comparison_labels():
    series = [ComparisonBar(NASTY, 1.0, kind="model")]
    root = parse(comparison_svg(series, metric_label=NASTY, higher_is_better=True))
    assert NASTY in texts(root)


def test_it_refuses_an_unknown_bar_kind():
    with pytest.raises(ValueError):
        ComparisonBar("x", 1.0, kind="champion")


# --- rates with intervals ----------------------------------------------------------------------

RATES = [
    IntervalBar("A", 0.6, 0.5, 0.7),
    IntervalBar("B", 0.3, 0.2, 0.4),
    IntervalBar("C", 0.15, 0.1, 0.25),
]


def axis_scale(root: ET.Element) -> tuple[float, float]:
    """(x of 0, px per unit) read from the first bar, which starts at 0."""
    first = with_class(root, "rect", "bar")[0]
    return float(first.get("x")), float(first.get("width")) / RATES[0].value


def test_it_draws_interval_bars_proportional_to_the_rate_on_a_fixed_axis():
    root = parse(interval_bars_svg(RATES, title="Selection rate"))
    bars = with_class(root, "rect", "bar")
    assert len(bars) == 3
    x0, per_unit = axis_scale(root)
    for bar, item in zip(bars, RATES, strict=True):
        assert float(bar.get("x")) == pytest.approx(x0, abs=0.1)
        assert float(bar.get("width")) == pytest.approx(item.value * per_unit, abs=0.2)
    # The axis runs 0..1 whatever the data: a full-scale bar would reach the 1 tick.
    assert {"0", "0.25", "0.5", "0.75", "1"} <= set(texts(root))
    assert [el.text for el in with_class(root, "text", "value")] == ["0.6", "0.3", "0.15"]
    assert "A" in texts(root) and "C" in texts(root)


def test_it_draws_each_interval_as_a_whisker_from_low_to_high():
    root = parse(interval_bars_svg(RATES, title="Selection rate"))
    x0, per_unit = axis_scale(root)
    whiskers = with_class(root, "g", "whisker")
    assert len(whiskers) == 3
    for whisker, item in zip(whiskers, RATES, strict=True):
        span, left_tick, right_tick = whisker.findall(f"{SVG}line")
        assert float(span.get("x1")) == pytest.approx(x0 + item.low * per_unit, abs=0.2)
        assert float(span.get("x2")) == pytest.approx(x0 + item.high * per_unit, abs=0.2)
        assert left_tick.get("x1") == left_tick.get("x2") == span.get("x1")
        assert right_tick.get("x1") == right_tick.get("x2") == span.get("x2")
        assert float(left_tick.get("y1")) < float(span.get("y1")) < float(left_tick.get("y2"))


def test_it_draws_no_whisker_without_an_interval():
    root = parse(interval_bars_svg([IntervalBar("A", 0.5)], title="Accuracy"))
    assert len(with_class(root, "rect", "bar")) == 1
    assert with_class(root, "g", "whisker") == []


def test_it_says_undefined_instead_of_drawing_a_zero_bar():
    bars = [
        IntervalBar("has positives", 0.8, 0.7, 0.9),
        IntervalBar("no positives", None, note="no positives in this group"),
    ]
    root = parse(interval_bars_svg(bars, title="Recall"))
    assert len(with_class(root, "rect", "bar")) == 1
    (undefined,) = with_class(root, "text", "undefined")
    assert undefined.text == "undefined"
    assert undefined.find(f"{SVG}title").text == "no positives in this group"
    assert "no positives" in texts(root)


def test_it_colours_flagged_interval_bars_and_explains_the_colour():
    bars = [IntervalBar("ok", 0.5, 0.4, 0.6), IntervalBar("high", 0.9, 0.8, 0.95, flagged=True)]
    root = parse(interval_bars_svg(bars, title="Selection rate"))
    ok, high = with_class(root, "rect", "bar")
    assert ok.get("fill") == ACCENT
    assert high.get("fill") == FLAG
    assert "flagged" in high.get("class").split()
    assert "(flagged)" in high.find(f"{SVG}title").text
    assert "flagged" in texts(root)
    label = next(el for el in root.iter(f"{SVG}text") if el.text == "high")
    assert label.get("fill") == FLAG_TEXT
    unflagged = parse(interval_bars_svg(bars[:1], title="Selection rate"))
    assert "flagged" not in texts(unflagged)


def test_it_draws_a_dashed_reference_line_at_its_value():
    root = parse(interval_bars_svg(RATES, title="Recall", reference=0.8, reference_label="min 0.8"))
    x0, per_unit = axis_scale(root)
    (line,) = with_class(root, "line", "reference")
    assert float(line.get("x1")) == pytest.approx(x0 + 0.8 * per_unit, abs=0.2)
    assert line.get("x1") == line.get("x2")
    assert line.get("stroke-dasharray")
    assert "min 0.8" in texts(root)
    plain = parse(interval_bars_svg(RATES, title="Recall", reference=0.8))
    assert "0.8" in texts(plain)
    assert with_class(parse(interval_bars_svg(RATES, title="Recall")), "line", "reference") == []


def test_it_escapes_interval_bar_labels():
    svg = interval_bars_svg([IntervalBar("<A&B>", 0.4, 0.3, 0.5)], title="<A&B>", width=600)
    assert "<A&B>" not in svg
    root = parse(svg)
    assert "<A&B>" in texts(root)
    assert root.find(f"{SVG}title").text == "<A&B>"
    assert with_class(root, "rect", "bar")[0].find(f"{SVG}title").text.startswith("<A&B>: 0.4")


def test_it_keeps_out_of_range_values_inside_the_axis():
    bars = [IntervalBar("in", 0.5, 0.4, 0.6), IntervalBar("over", 1.4, 1.2, 1.6)]
    root = parse(interval_bars_svg(bars, title="Rate"))
    inside, over = with_class(root, "rect", "bar")
    assert float(over.get("width")) == pytest.approx(2 * float(inside.get("width")), abs=0.2)
    assert "1.4" in texts(root)


# --- lineage ------------------------------------------------------------------------------------

CHAIN = [
    LineageNode("v1", "customers v1", "sha256 3f2a1b", href="/datasets/1/"),
    LineageNode("v2", "customers v2", "sha256 77aa01", href="/datasets/2/?a=1&b=2"),
    LineageNode("v3", "customers v3", "sha256 001122"),
]


def test_it_lays_a_version_chain_out_left_to_right():
    root = parse(lineage_svg(CHAIN, [("v1", "v2"), ("v2", "v3")], current="v3"))
    boxes = nodes_by_label(root)
    assert len(boxes) == 3
    xs = [float(boxes[f"customers v{i}"].get("x")) for i in (1, 2, 3)]
    assert xs == sorted(xs) and len(set(xs)) == 3
    edges = with_class(root, "path", "edge")
    assert len(edges) == 2
    marker = root.find(f"{SVG}defs/{SVG}marker")
    assert all(edge.get("marker-end") == f"url(#{marker.get('id')})" for edge in edges)


def test_it_puts_a_node_with_two_parents_after_both():
    nodes = [LineageNode(i, i.upper()) for i in ("raw", "left", "right", "joined")]
    edges = [("raw", "left"), ("raw", "right"), ("left", "joined"), ("right", "joined")]
    assert lineage_layers(nodes, edges) == [["raw"], ["left", "right"], ["joined"]]
    boxes = nodes_by_label(parse(lineage_svg(nodes, edges, current="joined")))
    assert boxes["LEFT"].get("x") == boxes["RIGHT"].get("x")
    assert float(boxes["RAW"].get("x")) < float(boxes["LEFT"].get("x"))
    assert float(boxes["JOINED"].get("x")) > float(boxes["LEFT"].get("x"))


def test_it_places_a_node_by_its_longest_path_from_a_root():
    nodes = [LineageNode(i, i) for i in ("a", "b", "c")]
    assert lineage_layers(nodes, [("a", "c"), ("a", "b"), ("b", "c")]) == [["a"], ["b"], ["c"]]


def test_it_orders_a_layer_by_where_its_parents_sit():
    nodes = [LineageNode(i, i) for i in ("p", "q", "child_of_q", "child_of_p")]
    edges = [("p", "child_of_p"), ("q", "child_of_q")]
    assert lineage_layers(nodes, edges)[1] == ["child_of_p", "child_of_q"]


def test_it_highlights_the_current_node():
    root = parse(lineage_svg(CHAIN, [("v1", "v2"), ("v2", "v3")], current="v2"))
    boxes = nodes_by_label(root)
    assert boxes["customers v2"].get("fill") == ACCENT
    assert boxes["customers v1"].get("fill") != ACCENT
    assert len(with_class(root, "g", "current")) == 1
    assert "customers v2" in root.find(f"{SVG}title").text


def test_it_links_nodes_that_have_an_href():
    svg = lineage_svg(CHAIN, [("v1", "v2"), ("v2", "v3")], current="v3")
    assert 'xmlns:xlink="http://www.w3.org/1999/xlink"' in svg
    root = parse(svg)
    assert root.get("aria-label") == root.find(f"{SVG}title").text == "Lineage of customers v3"
    links = list(root.iter(f"{SVG}a"))
    assert [link.get("href") for link in links] == ["/datasets/1/", "/datasets/2/?a=1&b=2"]
    assert [link.get(f"{XLINK}href") for link in links] == ["/datasets/1/", "/datasets/2/?a=1&b=2"]


def test_it_escapes_lineage_labels():
    nodes = [LineageNode("x", NASTY[:12], NASTY[:10]), LineageNode("y", "y")]
    root = parse(lineage_svg(nodes, [("x", "y")], current="x"))
    assert NASTY[:12] in texts(root)


def test_it_routes_a_long_edge_around_the_layer_it_skips():
    nodes = [LineageNode(i, i) for i in ("a", "b", "c")]
    root = parse(lineage_svg(nodes, [("a", "b"), ("b", "c"), ("a", "c")], current="c"))
    boxes = nodes_by_label(root)
    long_edge = with_class(root, "path", "edge")[2].get("d")
    # The long edge runs straight through its own slot in b's layer, clear of b's box.
    (run,) = [part for part in long_edge.split() if part.startswith("L")]
    run_y = float(run[1:].split(",")[1])
    top, height = float(boxes["b"].get("y")), float(boxes["b"].get("height"))
    assert not top <= run_y <= top + height


def test_it_refuses_a_cycle():
    nodes = [LineageNode(i, i) for i in ("a", "b", "c")]
    with pytest.raises(ValueError, match="cycle"):
        lineage_svg(nodes, [("a", "b"), ("b", "c"), ("c", "b")], current="a")
    with pytest.raises(ValueError, match="cycle"):
        lineage_svg(nodes, [("a", "a")], current="a")


def test_it_refuses_an_edge_to_an_unknown_node():
    with pytest.raises(ValueError):
        lineage_svg([LineageNode("a", "a")], [("a", "ghost")], current="a")


# --- empty inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "svg",
    [
        histogram_svg([], title="Age"),
        bars_svg([], title="Top"),
        comparison_svg([], metric_label="AUC", higher_is_better=True),
        lineage_svg([], [], current="v1"),
        interval_bars_svg([], title="Selection rate"),
    ],
    ids=["histogram", "bars", "comparison", "lineage", "intervals"],
)
def test_it_says_no_data_for_empty_inputs(svg):
    assert texts(parse(svg)) == ["No data"]

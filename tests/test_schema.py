from clavadb.schema import Column, ForeignKey, Schema, Table


def _t(name, cols, pk, fks=()):
    return Table(
        name=name,
        columns=[Column(c, "integer", "int", nullable=(c not in pk)) for c in cols],
        primary_key=list(pk),
        foreign_keys=list(fks),
    )


def test_json_round_trip_and_graph_orders():
    emp = _t("emp", ["id", "boss", "dept"], ["id"], [
        ForeignKey("emp_boss", ["boss"], "emp", ["id"]),
        ForeignKey("emp_dept", ["dept"], "dept", ["id"]),
    ])
    dept = _t("dept", ["id", "head"], ["id"], [ForeignKey("dept_head", ["head"], "emp", ["id"])])
    s = Schema("postgresql", {"emp": emp, "dept": dept})
    assert Schema.from_json(s.to_json()) == s
    g = s.graph()
    assert g.self_references()[0][0] == "emp"
    assert g.cycles() == [["dept", "emp"]]
    # both FKs of the cycle are nullable; one is deferred, plus the self-reference
    assert len(g.deferred) == 2
    order = g.top_down()
    assert sorted(order) == ["dept", "emp"]
    for p, c, _ in g.edges():
        assert order.index(p) < order.index(c)


def test_not_null_cycle_defers_an_edge():
    a = _t("a", ["id", "b_id"], ["id"], [ForeignKey("a_b", ["b_id"], "b", ["id"])])
    b = _t("b", ["id", "a_id"], ["id"], [ForeignKey("b_a", ["a_id"], "a", ["id"])])
    for t in (a, b):
        for c in t.columns:
            c.nullable = False
    g = Schema("postgresql", {"a": a, "b": b}).graph()
    assert len(g.deferred) == 1
    assert len(g.top_down()) == 2

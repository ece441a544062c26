// The table of what a cacheable read may contain, for the walk in
// sql/analysis_walk.cpp.
#include "sql/analysis_walk.h"

namespace usher::sql::detail {

// The node types a cacheable read may contain, with their structured
// fields (libpg_query's pg_query.proto, PostgreSQL 15). Every other type
// makes a statement unsupported.
const NodeSpecs& node_specs() {
  static const NodeSpecs specs = {
      {"SelectStmt",
       {{"distinctClause", ""},
        {"intoClause", kOwnField},
        {"targetList", ""},
        {"fromClause", ""},
        {"whereClause", ""},
        {"groupClause", ""},
        {"havingClause", ""},
        {"windowClause", ""},
        {"valuesLists", ""},
        {"sortClause", ""},
        {"limitOffset", ""},
        {"limitCount", ""},
        {"lockingClause", kOwnField},
        {"withClause", kOwnField},
        {"larg", "SelectStmt"},
        {"rarg", "SelectStmt"}}},
      {"ResTarget", {{"indirection", ""}, {"val", ""}}},
      {"ColumnRef", {{"fields", ""}}},
      {"A_Const",
       {{"ival", "Value"},
        {"fval", "Value"},
        {"boolval", "Value"},
        {"sval", "Value"},
        {"bsval", "Value"}}},
      {"Value", {}},  // the inline value of an A_Const: plain fields only
      {"TypeCast", {{"arg", ""}, {"typeName", "TypeName"}}},
      {"TypeName", {{"names", ""}, {"typmods", ""}, {"arrayBounds", ""}}},
      {"FuncCall",
       {{"funcname", ""},
        {"args", ""},
        {"agg_order", ""},
        {"agg_filter", ""},
        {"over", "WindowDef"}}},
      {"A_Expr", {{"name", ""}, {"lexpr", ""}, {"rexpr", ""}}},
      {"BoolExpr", {{"args", ""}}},
      {"SubLink", {{"testexpr", ""}, {"operName", ""}, {"subselect", ""}}},
      {"CaseExpr", {{"arg", ""}, {"args", ""}, {"defresult", ""}}},
      {"CaseWhen", {{"expr", ""}, {"result", ""}}},
      {"CoalesceExpr", {{"args", ""}}},
      {"MinMaxExpr", {{"args", ""}}},
      {"NullTest", {{"arg", ""}}},
      {"BooleanTest", {{"arg", ""}}},
      // GROUPING(a, b): a bitmask of which of the grouping columns a row
      // leaves out, decided by the query alone.
      {"GroupingFunc", {{"args", ""}}},
      {"GroupingSet", {{"content", ""}}},
      {"RangeVar", {{"alias", "Alias"}}},
      {"RangeSubselect", {{"subquery", ""}, {"alias", "Alias"}}},
      {"RangeFunction", {{"functions", ""}, {"alias", "Alias"}, {"coldeflist", ""}}},
      {"RangeTableSample", {{"relation", ""}, {"method", ""}, {"args", ""}, {"repeatable", ""}}},
      {"JoinExpr",
       {{"larg", ""},
        {"rarg", ""},
        {"usingClause", ""},
        {"join_using_alias", "Alias"},
        {"quals", ""},
        {"alias", "Alias"}}},
      {"Alias", {{"colnames", ""}}},
      {"CommonTableExpr",
       {{"aliascolnames", ""},
        {"ctequery", kOwnField},
        {"search_clause", "CTESearchClause"},
        {"cycle_clause", "CTECycleClause"}}},
      {"CTESearchClause", {{"search_col_list", ""}}},
      {"CTECycleClause",
       {{"cycle_col_list", ""}, {"cycle_mark_value", ""}, {"cycle_mark_default", ""}}},
      {"SortBy", {{"node", ""}, {"useOp", ""}}},
      {"WindowDef",
       {{"partitionClause", ""}, {"orderClause", ""}, {"startOffset", ""}, {"endOffset", ""}}},
      {"A_Indirection", {{"arg", ""}, {"indirection", ""}}},
      {"A_Indices", {{"lidx", ""}, {"uidx", ""}}},
      {"A_ArrayExpr", {{"elements", ""}}},
      {"RowExpr", {{"args", ""}, {"colnames", ""}}},
      {"CollateClause", {{"arg", ""}, {"collname", ""}}},
      {"NamedArgExpr", {{"arg", ""}}},
      // A column definition list: FROM f() AS x(a int).
      {"ColumnDef", {{"typeName", "TypeName"}, {"collClause", "CollateClause"}}},
      {"List", {{"items", ""}}},
      {"String", {}},
      {"Integer", {}},
      {"Float", {}},
      {"Boolean", {}},
      {"BitString", {}},
      {"A_Star", {}},
      {"ParamRef", {}},
      {"SQLValueFunction", {}},
  };
  return specs;
}

}  // namespace usher::sql::detail

"""KPI rollup storage: built in the KPI engine issue."""

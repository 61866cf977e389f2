"""Quality gates, the statistics they rest on, and the report that explains them."""

"""Everything that reaches out of the worker: the rules of every outbound URL, and the customer's photo."""

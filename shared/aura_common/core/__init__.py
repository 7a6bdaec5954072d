"""The pure decision core: functions from immutable inputs to values.

No I/O, no clock reads (``now`` is a parameter), no logging, no randomness that is not passed in.
The trader, the backtester and the optimizer call the same functions.
"""

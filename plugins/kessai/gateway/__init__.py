"""The card gateway: its protocol and simulator, the HTTP gateway, and the circuit breaker that
stops calling it once its faults pass a threshold.
"""

"""A connection's life: connect and reconnect (C1, C3) and its status with the reconnect banner."""

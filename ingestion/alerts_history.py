"""placeholder"""


def evaluate_history(conn, *, start, end):
    return 0

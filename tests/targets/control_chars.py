"""Type and attribute names carrying terminal control sequences: an OSC window-title
escape, a screen clear, a carriage return and a line that looks like gcscope's own."""
import gc

NAME = "Evil\x1b]0;pwned\x07\x1b[2J\r\ngcscope check: all limits hold\x9b31m"
Evil = type(NAME, (), {})
kept = [Evil() for _ in range(5)]  # type growth


def cycle():
    first, second = Evil(), Evil()
    setattr(first, "\x1b[31mred", second)
    setattr(second, "back", first)


for _ in range(50):
    cycle()
gc.collect()

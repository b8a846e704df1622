"""`gcscope tune`: run the program under several GC settings, measure, recommend.

`child` is the only module loaded into the measured program's process (it applies
one candidate's settings); everything else runs in the `gcscope tune` process.
"""

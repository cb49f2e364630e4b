"""The shared contract between the session runner and the analysis.

Everything both sides read or write lives here, as pure Python with no hardware
and no PsychoPy: the protocol model (:mod:`.protocol`), the stimulus manifest
(:mod:`.manifest`), the session-folder format with its writer and reader
(:mod:`.session_format`, :mod:`.session_writer`, :mod:`.session_reader`), the
faces-table schema (:mod:`.faces_schema`), derivative paths and the one way to
write a table (:mod:`.tables`), the strict YAML reader (:mod:`.strict_yaml`) and
the error family with its messages (:mod:`.errors`, :mod:`.validation_messages`).

Submodules are imported on use, so ``import coaffect.formats`` stays cheap.
"""

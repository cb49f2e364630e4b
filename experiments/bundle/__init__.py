"""Protocol bundles: pack a protocol for another lab, verify, import and diff bundles.

Modules: :mod:`.pack`, :mod:`.verify`, :mod:`.import_`, :mod:`.diff`,
:mod:`.migrate` (protocol format versions), :mod:`.safe_zip` (every check on
untrusted zips), :mod:`.layout` (what a bundle holds), :mod:`.describe`
(requirements and README), :mod:`.stimuli_match` (the lab's own clips).
User guide: ``docs/share-a-protocol.md``.
"""

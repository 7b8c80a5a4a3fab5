"""Hardened XML parsing for untrusted bundle files, plus namespace-agnostic lookups.

Every XML file of a bundle (GoalState, ExtensionsConfig, ovf-env, ...) is hostile input: no
entity is ever expanded, no DTD loaded, nothing fetched from the network or the file system.
A document whose DOCTYPE declares entities or names an external DTD is refused outright::

    root = parse_xml(data)                  # raises ParseError on anything unsafe or broken
    inc = text(root, "Incarnation")         # first child <Incarnation>, any namespace
    for plugin in iter_named(root, "Plugin"): ...
"""
from __future__ import annotations

import re
from typing import Iterator

from lxml import etree

from .parsers import ParseError

__all__ = ["parse_xml", "local", "child", "children", "find_path", "iter_named", "text", "attr"]

_ENTITY_MSG = "XML entity declarations are not allowed"
_EXTERNAL_MSG = "XML external DTD references are not allowed"

# checked on the raw bytes as well as (after parsing) on the tree's docinfo
_ENTITY_RE = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_DOCTYPE_RE = re.compile(rb"<!\s*DOCTYPE([^\[>]*)", re.IGNORECASE)
_EXTERNAL_ID_RE = re.compile(rb"\b(?:SYSTEM|PUBLIC)\b")


def _parser(recover: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
        recover=recover,
        collect_ids=False,
    )


def _prescan(data: bytes) -> None:
    """Refuse entity declarations and external DTDs before libxml2 sees the document."""
    for probe in _variants(data):
        if _ENTITY_RE.search(probe):
            raise ParseError(_ENTITY_MSG)
        m = _DOCTYPE_RE.search(probe)
        if m and _EXTERNAL_ID_RE.search(m.group(1)):
            raise ParseError(_EXTERNAL_MSG)


def _variants(data: bytes) -> Iterator[bytes]:
    """The bytes as given and, for UTF-16/32 documents, re-encoded as UTF-8 for the scan."""
    yield data
    head = data[:4]
    for enc, marks in (("utf-32", (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")),
                       ("utf-16", (b"\xff\xfe", b"\xfe\xff")),
                       ("utf-16-le", (b"<\x00?\x00", b"<\x00!\x00")),
                       ("utf-16-be", (b"\x00<\x00?", b"\x00<\x00!"))):
        if any(head.startswith(m) for m in marks):
            try:
                yield data.decode(enc, errors="replace").encode("utf-8", errors="replace")
            except (LookupError, UnicodeError):  # pragma: no cover - codecs exist
                pass
            return


def _check_docinfo(root: etree._Element) -> None:
    info = root.getroottree().docinfo
    if info.system_url or info.public_id:
        raise ParseError(_EXTERNAL_MSG)
    dtd = info.internalDTD
    if dtd is not None and any(True for _ in dtd.entities()):
        raise ParseError(_ENTITY_MSG)
    for el in root.iter():
        if isinstance(el, etree._Entity):
            raise ParseError(_ENTITY_MSG)


def parse_xml(data: bytes, recover: bool = False) -> etree._Element:
    """Parse ``data`` safely and return the root element.

    Raises :class:`ParseError` for entity declarations, external DTD references, syntax errors
    (unless ``recover`` is set: then libxml2 keeps what it could read) and empty documents.
    """
    if not data or not data.strip():
        raise ParseError("empty XML document")
    _prescan(data)
    try:
        root = etree.fromstring(data, parser=_parser(recover))
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"malformed XML: {exc}") from None
    except (ValueError, TypeError) as exc:  # e.g. encoding declaration problems
        raise ParseError(f"unreadable XML: {exc}") from None
    if root is None:
        raise ParseError("malformed XML: no root element")
    _check_docinfo(root)
    return root


def local(el: etree._Element) -> str:
    """Local name of an element (namespace dropped); '' for comments and PIs."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def children(el: etree._Element | None, name: str) -> Iterator[etree._Element]:
    """Direct children named ``name`` (any namespace)."""
    if el is None:
        return
    for c in el:
        if local(c) == name:
            yield c


def child(el: etree._Element | None, name: str) -> etree._Element | None:
    """First direct child named ``name`` (any namespace), or None."""
    return next(children(el, name), None)


def find_path(el: etree._Element | None, *path: str) -> etree._Element | None:
    """Follow a path of child names: ``find_path(root, "Container", "ContainerId")``."""
    for name in path:
        el = child(el, name)
        if el is None:
            return None
    return el


def iter_named(el: etree._Element | None, name: str) -> Iterator[etree._Element]:
    """All descendants named ``name`` (any namespace), document order."""
    if el is None:
        return
    for d in el.iter():
        if d is not el and local(d) == name:
            yield d


def text(el: etree._Element | None, *path: str) -> str | None:
    """Stripped text of the element at ``path`` below ``el`` (or of ``el``), None if absent/empty."""
    target = find_path(el, *path) if path else el
    if target is None or target.text is None:
        return None
    value = target.text.strip()
    return value or None


def attr(el: etree._Element | None, name: str) -> str | None:
    """Attribute by local name (namespace-agnostic), stripped; None if absent."""
    if el is None:
        return None
    for key, value in el.attrib.items():
        if key.rsplit("}", 1)[-1] == name:
            return value.strip()
    return None

"""Python mirror of engine/feature_hash.ts and engine/feature_encoder.ts.

Training must see exactly the float32 rows the server builds from a request,
so every function here follows its TypeScript twin line for line: strings are
walked as UTF-16 code units (JS string semantics), numbers are computed in
float64 and stored as float32 like a Float32Array does.
"""
import math

import numpy as np

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
MASK32 = 0xFFFFFFFF


def utf16_units(text):
    """The code units JS's charCodeAt walks (surrogate pairs stay split)."""
    raw = text.encode("utf-16-le", "surrogatepass")
    return [raw[i] | (raw[i + 1] << 8) for i in range(0, len(raw), 2)]


def fnv1a32(text, seed=0):
    h = (FNV_OFFSET ^ seed) & MASK32
    for c in utf16_units(text):
        # low byte then high byte of each UTF-16 code unit
        h = ((h ^ (c & 0xFF)) * FNV_PRIME) & MASK32
        h = ((h ^ (c >> 8)) * FNV_PRIME) & MASK32
    return h


def parse_prefixed_id(id_, prefix):
    """prefix + 1..9 decimal digits → the number; -1 for any other form."""
    units = utf16_units(id_)
    p = utf16_units(prefix)
    n = len(units) - len(p)
    if n < 1 or n > 9 or units[: len(p)] != p:
        return -1
    v = 0
    for c in units[len(p):]:
        d = c - 48
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    return v


def bucket_of(id_, buckets, prefix):
    if prefix is not None:
        n = parse_prefixed_id(id_, prefix)
        if n >= 0:
            return n % buckets
    return fnv1a32(id_) % buckets


def feature_width(f):
    kind = f["kind"]
    if kind == "one_hot":
        return len(f["categories"]) + 1
    if kind == "bucket":
        return f["buckets"]
    if kind == "lookup":
        return 1
    if kind == "numeric":
        return 2 if f.get("transform") == "cyclic" else 1
    raise ValueError("unknown feature kind %r" % kind)


def encoded_width(manifest):
    return sum(feature_width(f) for f in manifest["features"])


def _numeric_value(f, req):
    v = f["default"]
    ctx = req.get("context")
    if ctx is not None and ctx.get(f["field"]) is not None:
        raw = ctx[f["field"]]
        lo = f.get("min", -math.inf)
        hi = f.get("max", math.inf)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw < lo or raw > hi:
            raise ValueError("invalid context." + f["field"])
        v = raw
    return v


def _cyclic(v, period):
    a = (2 * math.pi * v) / period  # same operation order as the TS encoder
    return math.sin(a), math.cos(a)


def encode_row(manifest, req):
    """One request dict → float32 row, exactly as FeatureEncoder.encode."""
    out = np.zeros(encoded_width(manifest), dtype=np.float32)
    off = 0
    for f in manifest["features"]:
        kind = f["kind"]
        if kind == "one_hot":
            cats = f["categories"]
            val = req[f["field"]]
            out[off + (cats.index(val) if val in cats else len(cats))] = 1
        elif kind == "bucket":
            out[off + bucket_of(req[f["field"]], f["buckets"], f.get("prefix"))] = 1
        elif kind == "lookup":
            out[off] = f["table"].get(req[f["field"]], f["default"])
        elif kind == "numeric":
            v = _numeric_value(f, req)
            if f.get("transform") == "cyclic":
                out[off], out[off + 1] = _cyclic(v, f["period"])
            else:
                out[off] = v
        off += feature_width(f)
    return out


def encode_columns(manifest, columns):
    """Vectorised encode_row for training data.

    `columns` maps each request field (and "hour" for context.hour) to an
    array of values. Each distinct value is encoded once with the scalar
    functions above and then scattered, so the result equals encode_row on
    every row while staying fast on a million rows.
    """
    n = len(next(iter(columns.values())))
    out = np.zeros((n, encoded_width(manifest)), dtype=np.float32)
    rows = np.arange(n)
    off = 0
    for f in manifest["features"]:
        kind = f["kind"]
        uniq, inverse = np.unique(columns[f["field"]], return_inverse=True)
        if kind == "one_hot":
            cats = f["categories"]
            col = np.array([cats.index(u) if u in cats else len(cats) for u in uniq])
            out[rows, off + col[inverse]] = 1
        elif kind == "bucket":
            col = np.array([bucket_of(str(u), f["buckets"], f.get("prefix")) for u in uniq])
            out[rows, off + col[inverse]] = 1
        elif kind == "lookup":
            val = np.array([f["table"].get(str(u), f["default"]) for u in uniq], dtype=np.float32)
            out[:, off] = val[inverse]
        elif kind == "numeric":
            if f.get("transform") == "cyclic":
                pairs = np.array([_cyclic(float(u), f["period"]) for u in uniq], dtype=np.float32)
                out[:, off] = pairs[inverse, 0]
                out[:, off + 1] = pairs[inverse, 1]
            else:
                out[:, off] = np.asarray(uniq, dtype=np.float32)[inverse]
        off += feature_width(f)
    return out


def serving_manifest(manifest):
    """The manifest as the server reads it: the request schema in "fields"
    and the encoders by their serving names (engine/manifest.ts). The same
    columns as the training encoding above: one_hot keeps its trailing
    "unknown" column ("other"), "numeric" over context.<x> becomes a "cyclic"
    or "number" feature over the optional field context.<x>."""
    fields, specs, seen = [], [], set()
    for f in manifest["features"]:
        kind = f["kind"]
        if kind == "numeric":
            name = "context." + f["field"]
            field = {"name": name, "type": "integer" if isinstance(f["default"], int) else "number",
                     "required": False, "default": f["default"]}
            for k in ("min", "max"):
                if k in f:
                    field[k] = f[k]
            spec = ({"kind": "cyclic", "field": name, "period": f["period"]} if f.get("transform") == "cyclic"
                    else {"kind": "number", "field": name})
        else:
            name = f["field"]
            field = {"name": name, "type": "string", "required": True}
            spec = dict(f)
            if kind == "one_hot":
                spec["unknown"] = "other"
        if name not in seen:
            seen.add(name)
            fields.append(field)
        specs.append(spec)
    out = {k: v for k, v in manifest.items() if k != "features"}
    out["routing_key"] = "user_id"
    out["fields"] = fields
    out["features"] = specs
    return out

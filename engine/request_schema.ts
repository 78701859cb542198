// A model's request schema, compiled from its manifest: checks one request
// body field by field (type, range, allowed categories of a one-hot that
// rejects unknowns) without writing anything, so a request that passes cannot
// fail encoding. Returns null, or the first problem with the field's name and
// what was expected; the API layer turns that into a 400.
import { checkValue, fieldPath, fieldValue, MAX_STRING_LENGTH, type FieldSpec, type ModelManifest } from './manifest.js';

export interface FieldProblem {
  /** The field's request name ("context.hour"), or the object holding it ("context"). */
  field: string;
  /** Completes "field '<name>' …": "is required (a string)", "must be one of …". */
  expected: string;
}

const enum Kind { String, Number, Integer, Boolean }

interface CompiledField {
  spec: FieldSpec;
  parent: string | null;
  key: string;
  kind: Kind;
  required: boolean;
  min: number;
  max: number;
  /** The categories a rejecting one-hot allows, null when any string is fine. */
  allowed: Set<string> | null;
  allowedText: string;
}

const MAX_LISTED = 20;

function listCategories(cats: readonly string[]): string {
  const shown = cats.slice(0, MAX_LISTED).map((c) => JSON.stringify(c)).join(', ');
  return cats.length > MAX_LISTED ? `${shown}, … (${cats.length} in all; GET /models lists them)` : shown;
}

export class RequestSchema {
  private readonly fields: CompiledField[];
  /** Objects holding dotted fields ("context"): present ones must be objects. */
  private readonly parents: string[];

  constructor(manifest: ModelManifest) {
    const allowed = new Map<string, string[]>();
    for (const f of manifest.features) {
      if (f.kind !== 'one_hot' || f.unknown !== 'reject') continue;
      const had = allowed.get(f.field);
      allowed.set(f.field, had === undefined ? f.categories : had.filter((c) => f.categories.includes(c)));
    }
    this.fields = manifest.fields.map((spec) => {
      const [parent, key] = fieldPath(spec.name);
      const cats = allowed.get(spec.name) ?? null;
      return {
        spec, parent, key, required: spec.required,
        kind: spec.type === 'string' ? Kind.String : spec.type === 'number' ? Kind.Number : spec.type === 'integer' ? Kind.Integer : Kind.Boolean,
        min: spec.min ?? -Infinity, max: spec.max ?? Infinity,
        allowed: cats === null ? null : new Set(cats), allowedText: cats === null ? '' : listCategories(cats),
      };
    });
    this.parents = [...new Set(this.fields.map((f) => f.parent).filter((p): p is string => p !== null))];
  }

  /** null when `body` is a valid request for this model, else its first problem. */
  check(body: Readonly<Record<string, unknown>>): FieldProblem | null {
    const parents = this.parents;
    for (let i = 0; i < parents.length; i++) {
      const o = body[parents[i]];
      if (o !== undefined && o !== null && (typeof o !== 'object' || Array.isArray(o) || ArrayBuffer.isView(o))) {
        return { field: parents[i], expected: 'must be an object' };
      }
    }
    const fields = this.fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      const v = fieldValue(body, f.parent, f.key);
      if (v === undefined || v === null) {
        if (f.required) return { field: f.spec.name, expected: `is required (${typeName(f.spec)})` };
        continue;
      }
      let ok: boolean;
      switch (f.kind) {
        case Kind.String:
          ok = typeof v === 'string' && v.length > 0 && v.length <= MAX_STRING_LENGTH;
          if (ok && f.allowed !== null && !f.allowed.has(v as string)) {
            return { field: f.spec.name, expected: `must be one of ${f.allowedText} (got ${JSON.stringify(String(v).slice(0, 64))})` };
          }
          break;
        case Kind.Boolean:
          ok = typeof v === 'boolean';
          break;
        default:
          // v - v !== 0 rejects NaN and ±Infinity (msgpack can carry them)
          ok = typeof v === 'number' && v - v === 0 && v >= f.min && v <= f.max && (f.kind === Kind.Number || Number.isInteger(v));
      }
      if (!ok) return { field: f.spec.name, expected: checkValue(f.spec, v) ?? 'is invalid' };
    }
    return null;
  }
}

function typeName(f: FieldSpec): string {
  switch (f.type) {
    case 'string': return 'a string';
    case 'boolean': return 'true or false';
    case 'integer': return 'an integer';
    case 'number': return 'a number';
  }
}

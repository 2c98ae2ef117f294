// The generators: the XDR-language parser and emitter on a small .x snippet (every construct
// the emitter supports), and the API-XML constants reader on a small XML snippet.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emit, parseApiXml } from '../../scripts/codegen/libvirt-constants.js';
import { generate } from '../../scripts/codegen/libvirt-protocol.js';
import { Emitter } from '../../scripts/codegen/libvirt-ts-emitter.js';
import { parseXdr } from '../../scripts/codegen/libvirt-xdr-parser.js';
import { RemoteProcedure } from '../../agent/libvirt/generated/remote_protocol.gen.js';

const snippet = `
%#include <x.h>
/* comment */
const MAXN = 4;
const PROG = 0x20008086;
typedef opaque my_uuid[EXT_LEN];
typedef string my_str<>;
typedef my_str *my_opt;
enum color { RED = 0, GREEN = 1 };
struct thing {
    my_str name;
    my_uuid uuid;
    unsigned hyper size;
    hyper delta;
    unsigned char small;
    color c;
    int list<MAXN>;
    my_opt maybe;
    opaque blob<>;
    double ratio;
};
union val switch (int type) {
 case 1: int i;
 case 2:
 case 3: my_str s;
 default: void;
};
enum remote_procedure { REMOTE_PROC_A = 1, REMOTE_PROC_B = 2 };
`;

describe('XDR parser', () => {
  it('parses every construct remote_protocol.x uses', () => {
    const defs = parseXdr(snippet);
    assert.deepEqual(
      defs.map((d) => `${d.kind}:${d.name}`),
      [
        'const:MAXN',
        'const:PROG',
        'typedef:my_uuid',
        'typedef:my_str',
        'typedef:my_opt',
        'enum:color',
        'struct:thing',
        'union:val',
        'enum:remote_procedure',
      ],
    );
    const thing = defs.find((d) => d.name === 'thing');
    assert.ok(thing && thing.kind === 'struct');
    assert.deepEqual(
      thing.fields.map((f) => f.kind),
      ['scalar', 'scalar', 'scalar', 'scalar', 'scalar', 'scalar', 'varArray', 'scalar', 'varOpaque', 'scalar'],
    );
    assert.deepEqual(thing.fields[2], { kind: 'scalar', name: 'size', type: { kind: 'prim', name: 'uhyper' } });
    assert.deepEqual(thing.fields[4], { kind: 'scalar', name: 'small', type: { kind: 'prim', name: 'uint' } });
    const val = defs.find((d) => d.name === 'val');
    assert.ok(val && val.kind === 'union');
    assert.deepEqual(
      val.cases.map((c) => c.values),
      [[1], [2, 3]],
    );
    assert.deepEqual(val.default, { kind: 'void' });
  });

  it('reports the line of a syntax error', () => {
    assert.throws(() => parseXdr('const A = 1;\nstruct x { int };'), /line 2/);
  });

  it('emits codecs that follow the declared layout', () => {
    const em = new Emitter(parseXdr(snippet), new Map([['EXT_LEN', 16]]));
    const code = em
      .closure(['thing', 'val'])
      .map((d) => em.definition(d))
      .join('\n');
    assert.match(code, /w\.fixedOpaque\(v, 16, 'my_uuid'\)/);
    assert.match(code, /w\.varArray\(v\.list, 4, /);
    assert.match(code, /w\.optional\(v\.maybe, encodeMyOpt|encodeMyOpt\(w, v\.maybe\)/);
    assert.match(code, /case 2: return \{ type: 2, s: decodeMyStr\(r\) \}/);
    assert.match(code, /default: return \{ type \}/);
  });

  it('refuses a procedure the .x does not define', () => {
    assert.throws(
      () => generate(snippet, { version: 't', sourceName: 't', external: new Map([['EXT_LEN', 16]]), procs: ['NOPE'] }),
      /unknown procedure REMOTE_PROC_NOPE/,
    );
  });
});

describe('generated procedure numbers', () => {
  it('match the values checked by hand in remote_protocol.x (libvirt 9.0.0)', () => {
    assert.equal(RemoteProcedure.CONNECT_OPEN, 1);
    assert.equal(RemoteProcedure.DOMAIN_LOOKUP_BY_UUID, 24);
    assert.equal(RemoteProcedure.AUTH_LIST, 66);
    assert.equal(RemoteProcedure.DOMAIN_MIGRATE_SET_MAX_SPEED, 207);
    assert.equal(RemoteProcedure.DOMAIN_GET_JOB_STATS, 298);
    assert.equal(RemoteProcedure.DOMAIN_MIGRATE_PERFORM3_PARAMS, 305);
    assert.equal(RemoteProcedure.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION, 359);
    assert.equal(RemoteProcedure.DOMAIN_EVENT_CALLBACK_JOB_COMPLETED, 363);
    assert.equal(RemoteProcedure.DOMAIN_MIGRATE_START_POST_COPY, 364);
    assert.equal(RemoteProcedure.DOMAIN_ABORT_JOB_FLAGS, 442);
  });
});

describe('API XML constants', () => {
  const xml = `<api name='libvirt'><symbols>
    <macro name='LIBVIR_VERSION_NUMBER' file='libvirt-common' raw='9000000' version='0.0.1'><info><![CDATA[v]]></info></macro>
    <macro name='VIR_SECURITY_DOI_BUFLEN' file='libvirt-host' raw='(256 + 1)' version='0.6.1'><info><![CDATA[x]]></info></macro>
    <macro name='VIR_MIGRATE_PARAM_BANDWIDTH' file='libvirt-domain' string='bandwidth' version='1.1.0'><info><![CDATA[as VIR_TYPED_PARAM_ULLONG.]]></info></macro>
    <macro name='VIR_CPU_USED' file='libvirt-domain' params='cpumap,cpu' raw='x' version='1'><info><![CDATA[fn]]></info></macro>
    <enum name='VIR_MIGRATE_LIVE' file='libvirt-domain' value='1' value_hex='0x1' type='virDomainMigrateFlags' version='0.3.2' info='Do not pause the domain&apos;s CPUs
 during migration'/>
    <enum name='VIR_MIGRATE_PARALLEL' file='libvirt-domain' value='131072' type='virDomainMigrateFlags' version='5.2.0' info='x'/>
  </symbols></api>`;

  it('reads enums, integer and string macros, and skips function-like macros', () => {
    const { enums, macros, libVersion } = parseApiXml(xml);
    assert.equal(libVersion, '9.0.0');
    assert.deepEqual(
      enums.map((e) => [e.name, e.value, e.type]),
      [
        ['VIR_MIGRATE_LIVE', 1, 'virDomainMigrateFlags'],
        ['VIR_MIGRATE_PARALLEL', 131072, 'virDomainMigrateFlags'],
      ],
    );
    assert.equal(enums[0]!.info, "Do not pause the domain's CPUs\n during migration");
    assert.deepEqual(
      macros.map((m) => [m.name, m.int ?? m.str]),
      [
        ['LIBVIR_VERSION_NUMBER', 9000000],
        ['VIR_SECURITY_DOI_BUFLEN', 257],
        ['VIR_MIGRATE_PARAM_BANDWIDTH', 'bandwidth'],
      ],
    );
  });

  it('emits flat constants, grouped enums and the typed-param schema', () => {
    const out = emit(xml, 'test.xml');
    assert.match(out, /export const VIR_MIGRATE_PARALLEL = 131072;/);
    assert.match(
      out,
      /export const virDomainMigrateFlags = Object\.freeze\(\{\n {2}VIR_MIGRATE_LIVE: 1,\n {2}VIR_MIGRATE_PARALLEL: 131072,/,
    );
    assert.match(out, /"bandwidth": 'ULLONG'/);
    assert.match(out, /DO NOT EDIT/);
  });
});

/**
 * The Go-template subset behind --format: fields, nested fields, json, table headers, conditionals, ranges, trim
 * markers, and Go's error messages (the reference transcript's `{{json.Endpoint.Spec.Ports}}` mistake included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Template } from '../../control/cli/template';
import { compile, execute, FormatError, renderList } from '../../control/cli/formatter';
import { renderServiceList } from '../../control/cli/render-service';

const svc = {
  ID: 'xhdi4n93f5tid9mubgeumo2b4',
  Spec: { Name: 'redis', Labels: { a: '1' }, Mode: { Replicated: { Replicas: 3 } } },
  Endpoint: { Spec: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080 }] } },
};
const run = (f: string, data: unknown = svc): string => Template.parse(f).execute(data);

test('fields, nested fields, json, functions and pipes', () => {
  assert.equal(run('{{.ID}}'), 'xhdi4n93f5tid9mubgeumo2b4');
  assert.equal(run('{{.Spec.Mode.Replicated.Replicas}}'), '3');
  assert.equal(run('{{json .Endpoint.Spec.Ports}}'), '[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080}]');
  assert.equal(run('{{json .Spec.Labels}}'), '{"a":"1"}');
  assert.equal(run('{{.Spec.Labels}}'), 'map[a:1]');
  assert.equal(run('{{.Spec.Missing}}'), '<no value>');
  assert.equal(run('{{.Spec.Name | upper}}'), 'REDIS');
  assert.equal(run('{{upper .Spec.Name}}-{{len .Endpoint.Spec.Ports}}'), 'REDIS-1');
  assert.equal(run('{{json .}}', { a: [1, 'x'] }), '{"a":[1,"x"]}');
  assert.equal(run('{{index .Spec.Labels "a"}}'), '1');
  assert.equal(run('{{join .L ","}}', { L: ['a', 'b'] }), 'a,b');
});

test('if/else, range, with and trim markers', () => {
  assert.equal(run('{{if .Spec.Mode.Global}}global{{else}}replicated{{end}}'), 'replicated');
  assert.equal(run('{{if .A}}a{{else if .B}}b{{else}}c{{end}}', { B: 1 }), 'b');
  assert.equal(run('{{range .Endpoint.Spec.Ports}}{{.TargetPort}} {{end}}'), '80 ');
  assert.equal(run('{{with .Spec}}{{.Name}}{{end}}'), 'redis');
  assert.equal(run('a  \n  {{- .Spec.Name -}}  \n b'), 'aredisb');
});

test("Go's errors, with positions", () => {
  assert.throws(() => execute(compile('{{json.Endpoint.Spec.Ports}}'), svc), (e: unknown) =>
    e instanceof FormatError && e.message === 'template parsing error: template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0');
  assert.throws(() => compile('{{.ID'), /template parsing error: template: :1: unclosed action/);
  assert.throws(() => compile('{{nosuch .ID}}'), /function "nosuch" not defined/);
  assert.throws(() => compile('{{if .A}}x'), /unexpected EOF/);
  assert.throws(() => compile('{{end}}'), /unexpected \{\{end\}\}/);
});

test('list formats: table header, tabs from \\t, typed contexts refuse unknown fields', () => {
  const rows = [{ ID: 'abc', Name: 'web' }, { ID: 'defghi', Name: 'db' }];
  const spec = { headers: { ID: 'ID', Name: 'NAME' }, typeName: '*formatter.serviceContext' };
  assert.equal(renderList('table {{.ID}}\\t{{.Name}}', rows, spec), 'ID        NAME\nabc       web\ndefghi    db\n');
  assert.equal(renderList('{{.Name}}', rows, spec), 'web\ndb\n');
  assert.throws(() => renderList('{{.Nope}}', rows, spec), /can't evaluate field Nope in type \*formatter.serviceContext/);
});

test('service ls --format fields', () => {
  const s = {
    ID: 'xhdi4n93f5tid9mubgeumo2b4',
    Version: { Index: 1 },
    CreatedAt: '',
    UpdatedAt: '',
    Spec: { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'nginx:1@sha256:abc' } }, Mode: { Global: {} } },
    Endpoint: { Spec: {}, Ports: [{ Protocol: 'tcp' as const, TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' as const }] },
    ServiceStatus: { RunningTasks: 2, DesiredTasks: 3 },
  };
  assert.equal(renderServiceList([s], { format: '{{.ID}} {{.Name}} {{.Mode}} {{.Replicas}} {{.Image}} {{.Ports}}' }), 'xhdi4n93f5ti web global 2/3 nginx:1 *:8080->80/tcp\n');
  assert.equal(renderServiceList([s], { quiet: true }), 'xhdi4n93f5ti\n');
});

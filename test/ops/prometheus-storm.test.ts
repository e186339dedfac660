import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/shared/free-port.js';
import { eventually } from '../helpers/wait.js';
import { baseEnv, processesWithMarker, spawnLivescan } from '../helpers/livescan-process.js';

// A real Prometheus (Debian's package) scrapes a livescan whose built-in simulator storms: bare
// 1008 closes every 5-6 s and a max_connections kick every 8 s (the seeds' storm came from
// kicks). The kick keeps polygon-ws away for MAX_CONNECTIONS_WAIT_MS (here 10 min), so the gap
// stays above 2 long enough for the shipped gap alert (30 s) to fire. Every metric the rules and the
// Grafana dashboard name must be one livescan exports, and every dashboard query must run.

const OPS = new URL('../../ops/', import.meta.url).pathname;
const PROMETHEUS = '/usr/bin/prometheus';

interface Alert {
  labels: Record<string, string>;
  state: string;
}

async function promGet<T>(port: number, api: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${api}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${api}: ${body.error ?? body.status}`);
  return body.data;
}

function dashboardQueries(): string[] {
  const dash = JSON.parse(readFileSync(path.join(OPS, 'grafana/livescan-dashboard.json'), 'utf8')) as {
    panels: { targets?: { expr: string }[] }[];
  };
  return dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

function metricNames(text: string): string[] {
  return [...new Set([...text.matchAll(/\blivescan_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')))];
}

describe('a real Prometheus over livescan during a simulated storm', () => {
  it('scrapes the metrics the rules and the dashboard name, and fires the gap and 1008 alerts', async () => {
    const [httpPort, wsPort, promPort] = [await freePort(), await freePort(), await freePort()];
    const dir = mkdtempSync(path.join(tmpdir(), 'livescan-prometheus-'));
    writeFileSync(
      path.join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        `  - ${path.join(OPS, 'prometheus/alerts.yml')}`,
        'scrape_configs:',
        '  - job_name: livescan',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${httpPort}']`,
        '',
      ].join('\n'),
    );
    const prom = spawn(
      PROMETHEUS,
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let ls: ReturnType<typeof spawnLivescan> | null = null;
    let promLog = '';
    prom.stderr.on('data', (d: Buffer) => (promLog += d.toString()));
    const promExited = new Promise<void>((r) => prom.once('exit', () => r()));
    prom.once('error', (err) => (promLog += `\n${err.message} (run \`sh scripts/ensure-deps.sh --with-browser\`)`));
    try {
      await eventually(async () => (await fetch(`http://127.0.0.1:${promPort}/-/ready`).catch(() => null))?.ok, `Prometheus ready (${promLog})`, 30_000, 200);
      // Prometheus first, and the faults a few seconds in: increase() cannot see closes that came
      // before the counter's first scrape.
      ls = spawnLivescan([], {
        ...baseEnv(),
        HTTP_PORT: String(httpPort),
        WS_SERVER_PORT: String(wsPort),
        SCAN_INTERVAL_MS: '1000',
        // While kicked the gap is known from the SET read at each reconciliation: read it often.
        RECONCILE_INTERVAL_MS: '2000',
        // After the first kick, stay away long enough for the gap alert, however busy the machine.
        MAX_CONNECTIONS_WAIT_MS: '600000',
        SIMULATOR_STORM_MS: '5000-6000',
        SIMULATOR_KICK_EVERY_MS: '8000',
      });
      await eventually(async () => (await fetch(`http://127.0.0.1:${httpPort}/metrics`).catch(() => null))?.ok, 'livescan /metrics', 45_000, 200);

      // What the rules and the dashboard name is what livescan exports.
      const exported = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      const named = metricNames(readFileSync(path.join(OPS, 'prometheus/alerts.yml'), 'utf8') + dashboardQueries().join('\n'));
      expect(named.length).toBeGreaterThan(10);
      for (const name of named) expect(exported, `${name} is not exported`).toContain(`# TYPE ${name} `);
      expect(exported).not.toContain('livescan_process_process_');

      const alerts = await eventually(
        async () => {
          const data = await promGet<{ alerts: Alert[] }>(promPort, '/api/v1/alerts');
          const firing = new Set(data.alerts.filter((a) => a.state === 'firing').map((a) => a.labels.alertname));
          return firing.has('LivescanSubscriptionGap') && firing.has('LivescanUpstream1008') ? data.alerts : null;
        },
        'the gap and 1008 alerts firing',
        150_000,
        1_000,
      );
      const gap = alerts.find((a) => a.labels.alertname === 'LivescanSubscriptionGap' && a.state === 'firing');
      expect(gap?.labels).toMatchObject({ severity: 'critical', job: 'livescan', instance: `127.0.0.1:${httpPort}` });

      // Every dashboard query runs (the variables as Grafana expands "All").
      for (const expr of dashboardQueries()) {
        const q = expr.replaceAll('$job', '.*').replaceAll('$instance', '.*');
        await promGet(promPort, `/api/v1/query?query=${encodeURIComponent(q)}`);
      }

      expect(await ls.stop(), ls.output().slice(-4000)).toBe(0);
      expect(processesWithMarker(ls.marker)).toEqual([]);
    } finally {
      await ls?.stop(2_000);
      if (prom.exitCode === null) prom.kill('SIGTERM');
      await Promise.race([promExited, new Promise((r) => setTimeout(r, 10_000))]);
      if (prom.exitCode === null) prom.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});

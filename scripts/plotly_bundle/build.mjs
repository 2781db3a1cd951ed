// Builds the dashboard's plotly.js: only the trace types liqmap draws, so the browser evaluates
// ~1.2 MB instead of the full 4.8 MB plotly.min.js (issue #11: first paint < 1.5 s).
//
//   cd scripts/plotly_bundle && npm install && npm run build
//
// This follows plotly.js's own recipe for a custom bundle (CUSTOM_BUNDLE.md, tasks/partial_bundle.mjs
// and esbuild-config.js in https://github.com/plotly/plotly.js at v4.1.1): an index that registers
// the wanted traces on lib/core (which always carries scatter), bundled by esbuild as an IIFE
// global `Plotly` with the same plugins, defines and target, minified, under plotly's licence header.
// Traces: scatter (bubbles, cumulative lines), bar (strips, totals, liquidation map), heatmap
// (predicted levels), candlestick (price). Not included: world calendars (we only draw UTC dates).
// Output: src/liqmap/api/static/vendor/plotly-liqmap.min.js (+ LICENSE copied from plotly.js).

import { build } from 'esbuild';
import { environmentPlugin } from 'esbuild-plugin-environment';
import InlineCSSPlugin from 'esbuild-plugin-inline-css';
import { copyFileSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const TRACES = ['bar', 'candlestick', 'heatmap']; // + scatter, which lib/core registers

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const plotlyDir = path.dirname(require.resolve('plotly.js/package.json'));
const version = require('plotly.js/package.json').version;
const outDir = path.join(here, '..', '..', 'src', 'liqmap', 'api', 'static', 'vendor');
const index = path.join(here, 'index-liqmap.js');

writeFileSync(index, [
    "'use strict';",
    "var Plotly = require('plotly.js/lib/core');",
    'Plotly.register([' + TRACES.map((t) => `require('plotly.js/lib/${t}')`).join(', ') + ']);',
    'module.exports = Plotly;', ''].join('\n'));

const banner = ['/**', `* plotly.js v${version} (partial bundle for liqmap: scatter, ${TRACES.join(', ')})`,
    `* Copyright 2012-${new Date().getUTCFullYear()}, Plotly, Inc.`, '* All rights reserved.',
    '* Licensed under the MIT license', '*/'].join('\n');

mkdirSync(outDir, { recursive: true });
try {
    await build({
        entryPoints: [index], outfile: path.join(outDir, 'plotly-liqmap.min.js'),
        format: 'iife', globalName: 'Plotly', bundle: true, minify: true, sourcemap: false,
        plugins: [InlineCSSPlugin(), environmentPlugin({ NODE_DEBUG: false })],
        define: { global: 'window', 'define.amd': 'false' }, target: 'es2016',
        banner: { js: banner }, legalComments: 'none', logLevel: 'info',
    });
} finally {
    rmSync(index, { force: true });
}
copyFileSync(path.join(plotlyDir, 'LICENSE'), path.join(outDir, 'plotly.js-LICENSE'));

/**
 * DVC's plots page, drawable offline. `dvc plots show` and `dvc plots diff` fill this template
 * (`plots.html_template` in .dvc/config) instead of their default page, which loads vega, vega-lite
 * and vega-embed from a CDN and stays blank without a network. Here the same three libraries, at
 * the versions DVC's default page names (pinned in package.json), are inlined from their npm
 * packages, so the page needs nothing but itself.
 *
 *     npm --prefix web run plots-template    # writes ../.dvc/offline_plots.html
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const WEB = fileURLToPath(new URL('..', import.meta.url));
export const TEMPLATE = join(WEB, '..', '.dvc', 'offline_plots.html');
/** In the order the page must run them: vega-lite and vega-embed use the globals vega defines. */
export const LIBRARIES = ['vega', 'vega-lite', 'vega-embed'];
// What DVC replaces in a template. `{scripts}` stays out of it: DVC would put its CDN tags there.
const PLACEHOLDERS = ['{plot_divs}', '{refresh_tag}', '{scripts}'];

/** One library's browser bundle: the file the CDN serves for `npm/<name>@<version>`. */
function bundle(name) {
  const folder = join(WEB, 'node_modules', name);
  const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
  const pinned = JSON.parse(readFileSync(join(WEB, 'package.json'), 'utf8')).devDependencies[name];
  if (manifest.version !== pinned) {
    throw new Error(`${name} ${manifest.version} is installed but package.json pins ${pinned}: run npm ci`);
  }
  const file = manifest.jsdelivr;
  if (!file) throw new Error(`${name}/package.json names no browser bundle (its "jsdelivr" field)`);
  const code = readFileSync(join(folder, file), 'utf8');
  for (const text of ['</script', ...PLACEHOLDERS]) {
    if (code.includes(text)) throw new Error(`${name}/${file} contains "${text}": it cannot be inlined`);
  }
  return `<script>\n/* ${name}@${manifest.version} ${file} */\n${code}\n</script>`;
}

/** The whole template: DVC's default page with the libraries inlined and a declared charset. */
export function buildPlotsTemplate() {
  return `<!DOCTYPE html>
<!-- Written by \`npm --prefix web run plots-template\` (web/scripts/plotsTemplate.mjs); do not edit. -->
<html>
<head>
<meta charset="utf-8">
{refresh_tag}
<title>DVC Plot</title>
${LIBRARIES.map(bundle).join('\n')}
<style>
  table {
    border-spacing: 15px;
  }
</style>
</head>
<body>
{plot_divs}
</body>
</html>
`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const page = buildPlotsTemplate();
  writeFileSync(TEMPLATE, page);
  console.log(`wrote ${TEMPLATE} (${page.length.toLocaleString('en')} characters)`);
}

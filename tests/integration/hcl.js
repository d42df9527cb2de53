// Offline Terraform checks for test-deploy.sh: parses each file with HCL2
// (@cdktf/hcl2json) and compares it with its canonical layout (hclwrite.Format,
// the core of `terraform fmt`, via @cdktf/hcl-tools). Prints one JSON object:
// {"FILE": {"json": PARSED | null, "error": TEXT | null, "fmt": [PROBLEMS]}}.
// Usage: NESTOR_NPM_DIR=/var/cache/nestor-npm node hcl.js FILE...
'use strict';
const fs = require('fs');
const path = require('path');

const dir = path.join(process.env.NESTOR_NPM_DIR || '/var/cache/nestor-npm', 'node_modules');
const { parse } = require(path.join(dir, '@cdktf/hcl2json'));
const { format } = require(path.join(dir, '@cdktf/hcl-tools'));

// terraform fmt rewrites two things hclwrite.Format leaves alone: an attribute
// whose whole value is one interpolation ("${x}" -> x) and a quoted variable
// type ("string" -> string). Line-based, so only the single-line forms.
function terraformRules(text) {
	const out = [];
	let inVariable = false, depth = 0;
	text.split('\n').forEach((line, i) => {
		if (depth === 0 && /^variable\s/.test(line)) inVariable = true;
		if (/^\s*[\w-]+\s*=\s*"\$\{[^"{}]*\}"\s*$/.test(line))
			out.push(`line ${i + 1}: interpolation-only value (terraform fmt unwraps it): ${line.trim()}`);
		if (inVariable && depth === 1 && /^\s*type\s*=\s*"/.test(line))
			out.push(`line ${i + 1}: quoted variable type (terraform fmt unquotes it): ${line.trim()}`);
		for (const c of line.replace(/"(\\.|[^"\\])*"/g, '')) {
			if (c === '{') depth++;
			else if (c === '}') depth--;
		}
		if (depth === 0) inVariable = false;
	});
	return out;
}

function layoutDiff(have, want) {
	if (have === want) return [];
	const a = have.split('\n'), b = want.split('\n');
	for (let i = 0; i < Math.max(a.length, b.length); i++) {
		if (a[i] !== b[i])
			return [`line ${i + 1}: not in canonical layout: have ${JSON.stringify(a[i])}, terraform fmt wants ${JSON.stringify(b[i])}`];
	}
	return ['not in canonical layout'];
}

(async () => {
	const result = {};
	for (const f of process.argv.slice(2)) {
		const text = fs.readFileSync(f, 'utf8');
		const r = { json: null, error: null, fmt: [] };
		try {
			r.json = await parse(path.basename(f), text);
		} catch (e) {
			r.error = String(e && e.message ? e.message : e);
		}
		// hclwrite formats even broken input: only judge layout of valid files.
		if (!r.error)
			r.fmt = layoutDiff(text, await format(text)).concat(terraformRules(text));
		result[f] = r;
	}
	process.stdout.write(JSON.stringify(result) + '\n');
})().catch((e) => {
	process.stderr.write(`hcl.js: ${e && e.stack ? e.stack : e}\n`);
	process.exit(2);
});

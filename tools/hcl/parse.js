#!/usr/bin/env node
// Parses every *.tf file in a folder with HashiCorp's HCL parser (compiled to WebAssembly in @cdktf/hcl2json)
// and prints one JSON object: { "<file name>": <the file as HCL JSON> }. Exit 1 with the parser's message
// on the first file that does not parse. Used by tests/Corral.Terraform.Tests.
'use strict';
const fs = require('fs');
const path = require('path');
const { parse } = require('@cdktf/hcl2json');

async function main() {
  const dir = process.argv[2];
  if (!dir) { console.error('usage: node parse.js DIR'); process.exit(2); }
  const result = {};
  for (const name of fs.readdirSync(dir).filter(f => f.endsWith('.tf')).sort()) {
    const text = fs.readFileSync(path.join(dir, name), 'utf8');
    try {
      result[name] = await parse(name, text);
    } catch (e) {
      console.error(`${name}: ${e && e.message ? e.message : e}`);
      process.exit(1);
    }
  }
  process.stdout.write(JSON.stringify(result));
}
main();

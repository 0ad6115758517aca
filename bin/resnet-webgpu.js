#!/usr/bin/env node
// The CLI, built into dist/ by `npm install` (the prepare script) or `npm run build`.
import('../dist/cli.js');

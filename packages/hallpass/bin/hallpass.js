#!/usr/bin/env node
// The `hallpass` command: a file that exists before the build, so npm can link it on install.
import "../dist/cli/main.js"

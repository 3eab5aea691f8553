/**
 * Inside the workspace, `@omnibus/*` packages resolve to their TypeScript source through the
 * `@omnibus/source` export condition (published packages resolve `import` → `dist/`). Every project's
 * config spreads this. Vitest also hands the condition to its workers as `--conditions`, so processes
 * they `fork` inherit it; scripts run by pnpm get it from `nodeOptions` in pnpm-workspace.yaml.
 */
export const SOURCE_CONDITION = '@omnibus/source';

export const workspaceSource = { ssr: { resolve: { conditions: [SOURCE_CONDITION] } } };

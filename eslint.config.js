// ESLint: typescript-eslint with type information, exhaustive switches everywhere, and the
// purity rule for the core: nothing in src/raft/ may touch clocks, timers, randomness, process,
// Node modules, gRPC, generated wire code or a runtime.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const impureGlobals = [
  { name: "Date", message: "the core never reads a clock: take nowMs from the input" },
  { name: "performance", message: "the core never reads a clock: take nowMs from the input" },
  { name: "process", message: "the core does no I/O and never touches the process" },
  { name: "setTimeout", message: "the core has no timers: return wakeAtMs instead" },
  { name: "setInterval", message: "the core has no timers: return wakeAtMs instead" },
  { name: "setImmediate", message: "the core has no timers: return wakeAtMs instead" },
  { name: "queueMicrotask", message: "the core has no timers: return wakeAtMs instead" },
  { name: "require", message: "the core imports only its own files" },
  { name: "fetch", message: "the core does no I/O" },
  { name: "crypto", message: "the core takes randomness as an argument" },
  { name: "globalThis", message: "the core touches no global state" },
];

export default tseslint.config(
  { ignores: ["dist/**", "dist-bench/**", "src/gen/**", "node_modules/**", "data/**", "bin/**", "scripts/**", "bench/**/*.mjs", "eslint.config.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ["*.ts"] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    // The core has one door: everything outside src/raft/ imports it through src/raft/index.ts.
    files: ["src/**/*.ts", "test/**/*.ts", "bench/**/*.ts"],
    ignores: ["src/raft/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ regex: "(^|/)raft/(?!index\\.js$)[^/]+$", message: "the core's only door is src/raft/index.ts: import from it, not from the core's internals" }] },
      ],
    },
  },
  {
    files: ["src/raft/**/*.ts"],
    rules: {
      "no-restricted-globals": ["error", ...impureGlobals],
      "no-restricted-properties": [
        "error",
        { object: "Math", property: "random", message: "the core takes randomness as an argument (a seeded PRNG)" },
      ],
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { regex: "^node:", message: "the core imports nothing from Node" },
            { regex: "^(fs|path|os|net|http|http2|crypto|child_process|worker_threads|timers|perf_hooks|events|stream|dgram|dns|tls|util|readline|cluster|v8|vm)(/|$)", message: "the core imports nothing from Node" },
            { regex: "^@grpc/", message: "the core knows nothing of gRPC" },
            { regex: "(^|/)gen(/|$)", message: "the core does not use generated wire code; translate at the runtime edge" },
            { regex: "(^|/)(runtime|cli|client)(/|$)", message: "imports point down: the core imports no runtime, CLI or client code" },
            { regex: "^seedrandom$", message: "the core takes its PRNG as an argument; the runtime builds it with seedrandom" },
          ],
        },
      ],
    },
  },
);

// ESLint for src/, test/, bench/ and scripts/: typescript-eslint's type-aware recommended rules, with Prettier
// owning the layout (eslint-config-prettier turns off every rule it would fight with). The layers are
// enforced by dependency-cruiser (.dependency-cruiser.cjs), which `npm run lint` runs after this.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'coverage/',
      '.data/',
      'test/generated/',
      'src/db/generated/',
      'schema/persisted/',
      'bench/postgraphile/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    rules: {
      // Fastify hooks and Apollo plugin hooks are async by contract: an async hook that does not wait is the
      // documented way to write one (returning a promise is what tells Fastify it is not a callback hook).
      '@typescript-eslint/require-await': 'off',
      // `_name` marks a binding kept for its position or to leave a property out of a rest object.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Tests read JSON answers (fetch, inject, WebSocket messages) and assert their shape field by field; typing
    // each answer first would add nothing the assertions do not already check.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // A test prints what it got, whatever it is.
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    // Plain JavaScript (the build script, configuration files) is checked by tsc's checkJs, not type-aware lint.
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
  prettier,
);

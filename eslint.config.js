// ESLint for src/, test/, bench/ and scripts/: typescript-eslint's type-aware recommended rules, with Prettier
// owning the layout (eslint-config-prettier turns off every rule it would fight with). The layers are
// enforced by dependency-cruiser (.dependency-cruiser.cjs), which `npm run lint` runs after this.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', '.data/', 'test/generated/', 'bench/postgraphile/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
  prettier,
);

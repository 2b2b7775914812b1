import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// zod/mini ships no error messages by default; load English only (all locales would add ~100 KB).
z.config(en());

// Every page by route name (router.js): each module's ``mount(ctx)`` builds the page in
// ``ctx.root`` and returns ``{refresh, dispose?}`` for the shell's refresh loop.

import { mount as breakers } from "./breakers.js";
import { mount as deadLetters } from "./dead_letters.js";
import { mount as job } from "./job.js";
import { mount as jobs } from "./jobs.js";
import { mount as logs } from "./logs.js";
import { mount as metrics } from "./metrics.js";
import { mount as notFound } from "./not_found.js";
import { mount as overrides } from "./overrides.js";
import { mount as overview } from "./overview.js";
import { mount as periodic } from "./periodic.js";
import { mount as queues } from "./queues.js";
import { mount as resources } from "./resources.js";
import { mount as settings } from "./settings.js";
import { mount as system } from "./system.js";
import { mount as workers } from "./workers.js";
import { mount as workflow } from "./workflow.js";
import { mount as workflows } from "./workflows.js";

export const PAGES = {
  overview,
  jobs,
  job,
  metrics,
  logs,
  workflows,
  workflow,
  queues,
  workers,
  resources,
  "dead-letters": deadLetters,
  "circuit-breakers": breakers,
  system,
  periodic,
  overrides,
  settings,
  "not-found": notFound,
};

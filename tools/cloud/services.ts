// Built-in services, started in this order. Add a service here (one import, one
// entry), or call registerService() from service.ts, or pass startCloud({ services }).
import { commandsService } from "./commands.ts";
import { defenderService } from "./defender.ts";
import { jobsService } from "./jobs.ts";
import { provisioningService } from "./provisioning.ts";
import type { ServiceFactory } from "./service.ts";
import { shadowService } from "./shadow.ts";
import { streamsService } from "./streams.ts";
import { consoleService } from "../console/service.ts";
import { telemetryService } from "./telemetry.ts";

export const builtinServices: ServiceFactory[] = [shadowService, jobsService, provisioningService, streamsService, commandsService, defenderService, telemetryService, consoleService];

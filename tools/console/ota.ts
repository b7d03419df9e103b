// OTA from the console, inside the cloud process: build the app at the asked
// version, sign it, store it as a stream and create the afr_ota job — the same
// document `xsiot ota publish` sends (tools/ota/publish.ts), without HTTP hops.
import { createHash } from "node:crypto";
import type { JobsService } from "../cloud/jobs.ts";
import { CHUNK, type StreamsService } from "../cloud/streams.ts";
import { otaDocument } from "../ota/publish.ts";
import { signImage } from "../ota/signing.ts";
import { buildApp } from "../sim/image.ts";
import type { OtaPublisher } from "./service.ts";

export function localOtaPublisher(cloud: { jobs: JobsService; streams: StreamsService }, o: { appDir: string; keyPem: string }): OtaPublisher {
  return {
    async publish(things, version) {
      const image = buildApp(o.appDir, { version }).bytes;
      const signature = signImage(o.keyPem, image);
      const tag = `${version.replace(/\./g, "_")}-${Date.now().toString(36)}`;
      const streamId = `ota-${tag}`;
      const jobId = `ota-${tag}`;
      const sha256 = createHash("sha256").update(image).digest("hex");
      cloud.streams.createStream({ streamId, description: `OTA ${version} (console)`, files: [{ fileId: 1, size: image.length, sha256 }] });
      for (let i = 0; i * CHUNK < image.length; i++) cloud.streams.putChunk(streamId, 1, i, image.subarray(i * CHUNK, (i + 1) * CHUNK));
      const document = otaDocument({ streamId, fileId: 1, size: image.length, version, signature });
      await cloud.jobs.createJob({ jobId, targets: things, document, description: `OTA to ${version}` });
      return { jobId, streamId, size: image.length };
    },
  };
}

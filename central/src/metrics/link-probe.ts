import type { BrokerClient, MqttClient, MqttServer } from '@kantine/mqtt';
import { EmbeddedLinkBroker, type LinkTransport, SharedLinkClient } from '../link/transport.ts';

/** What a worker's link transport knows of its connections (read only). */
export interface LinkProbe {
  /**
   * The sites whose link is connected to this worker's own broker now; undefined on a shared
   * broker, where the broker knows who is connected (its own metrics), not central.
   */
  connectedSites(): ReadonlySet<string> | undefined;
  /** This worker's broker is up: its own one listening, or its connection to the shared one open. */
  brokerUp(): boolean;
}

/**
 * Reads a transport's state. The transports keep their server and client to themselves (the link
 * is another part's code), so this reads them by their field names, in this one place; the test
 * (tests/central-metrics.test.ts) fails if a rename leaves it blind. A transport of another kind
 * (the simulation's) is reported down and without sites.
 */
export function probeTransport(transport: LinkTransport): LinkProbe {
  if (transport instanceof EmbeddedLinkBroker) {
    const server = () => (transport as unknown as { server?: MqttServer<string> }).server;
    return {
      connectedSites() {
        const s = server();
        const sites = new Set<string>();
        if (!s?.started) return sites;
        // aedes keeps its connected clients by id (`clients`, not in its types).
        const clients = (s.broker as unknown as { clients: Record<string, BrokerClient> }).clients;
        for (const client of Object.values(clients)) {
          const site = s.identity(client);
          if (site !== undefined && client.connected) sites.add(site);
        }
        return sites;
      },
      brokerUp: () => transport.port > 0,
    };
  }
  if (transport instanceof SharedLinkClient) {
    return {
      connectedSites: () => undefined,
      brokerUp: () => (transport as unknown as { client?: MqttClient }).client?.connected === true,
    };
  }
  return { connectedSites: () => undefined, brokerUp: () => false };
}

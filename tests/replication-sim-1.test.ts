/** The deterministic simulation of sites and central (tests/helpers/sim.ts), part of its seeds. */
import { simulationSuite } from './helpers/sim-suite.ts';

simulationSuite(1);

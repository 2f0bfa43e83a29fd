package org.onnxfuse.fusion.ops;

import java.util.Optional;

/**
 * Several nodes that act as one op of a level, such as the Erf form of GELU that exporters
 * emit as Div, Erf, Add, Mul, Mul. Patterns are tried before single-node handlers.
 */
public interface OpPattern {
    /** The op the pattern computes, e.g. "Gelu"; parents compare it with the single-node op of that name. */
    String opType();

    OpRole role();

    /** Name used in the list of supported ops. */
    String displayName();

    /** The pattern whose activation input is {@code value}, if the nodes reading it form one. */
    Optional<PatternMatch> match(String value, GraphView graph);
}

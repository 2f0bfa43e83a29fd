/**
 * Level planning for networks whose ops form a DAG.
 *
 * <p>Input: a parent {@link org.onnxfuse.onnx.ir.Model}: float inputs whose features levels read,
 * int64 and bool inputs passed through ({@link org.onnxfuse.fusion.plan.ModelInput}), nodes that
 * form a DAG. Output: a {@link org.onnxfuse.fusion.plan.LevelPlan}, its inputs and the list of
 * {@link org.onnxfuse.fusion.plan.Level}s each ending in an affine op (Gemm, MatMul(+Add), Conv,
 * with a following BatchNormalization folded in) whose output is the level's cut, with the
 * cut's shape, neuron axis, width and fan-in (ALGORITHM.md sections 1, 2 and 5). Levels are
 * numbered from 1: cut 0 is the model input, level l maps cut l-1 to cut l.
 *
 * <p>{@link org.onnxfuse.fusion.plan.PlanComparison} checks that parents share one plan up to
 * widths; {@link org.onnxfuse.fusion.plan.PlanFormatter} prints plans as a table or JSON;
 * {@link org.onnxfuse.fusion.plan.LevelWeights} reads a level's weights as a fan-in x width
 * matrix with the BatchNormalization folded in. Which op may stand where is decided by
 * {@link org.onnxfuse.fusion.ops.OpRegistry}.
 *
 * <p>Parents enter planning (and the rest of the pipeline) through
 * {@link org.onnxfuse.fusion.plan.ConstantFolding}: a model computing the same function with its
 * exporter-written constant computations (Identity copies, Constant nodes, shape arithmetic on
 * constants) folded into initializers and every shared parameter split per reading node.
 */
package org.onnxfuse.fusion.plan;

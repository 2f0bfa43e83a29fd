package org.onnxfuse.fusion.pipeline;

import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;

/**
 * A fusion setting that cannot be used, alone or with the parents it is meant for; raised by
 * {@link FusionConfig} and, for training settings, by the types of
 * {@link org.onnxfuse.fusion.train.TrainingSettings}. The message names the setting (with its command-line option), what
 * was expected and what was found. At the command line it exits with {@link ErrorCode#USAGE}.
 */
public final class InvalidSettingException extends OnnxFuseException {
    public InvalidSettingException(String message) {
        super(ErrorCode.USAGE, message);
    }
}

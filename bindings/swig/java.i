/*
 * Java typemaps for surgeon.i (swig -java -package dev.surgeon.jni), the raw layer under
 * the idiomatic classes of bindings/java (package dev.surgeon).
 *
 *  - A surgeon_status result becomes a dev.surgeon.SurgeonException (unchecked) carrying the
 *    status and the surgeon_last_error() text, read in the same native call right after the
 *    failing C call (the message is thread-local). The exception is thrown after every
 *    pinned array was released, so the JNI rules on critical regions hold.
 *  - Every status function returns a Java `long`: the new handle for a function with a
 *    `T** out` parameter (that parameter disappears from the Java signature), else 0.
 *  - Handles (`surgeon_X*`, const or not) are plain `long` addresses: the raw layer never
 *    frees anything by itself, the idiomatic classes own each handle once.
 *  - float / uint16_t / uint8_t / int32_t buffers are `Object`: a float[] / short[] /
 *    byte[] / int[] array (pinned with GetPrimitiveArrayCritical: zero copy) or a direct
 *    FloatBuffer / ShortBuffer / ByteBuffer / IntBuffer (GetDirectBufferAddress, from the
 *    buffer's address, ignoring its position). null, a heap buffer or an object of the
 *    wrong type passes NULL, which the C API rejects (or skips, for nullable outputs). As in
 *    C the raw layer does not know the sizes: the idiomatic layer checks them.
 *  - int64_t / int / double pointers work the same way (long[] / int[] / double[] or
 *    LongBuffer / IntBuffer / DoubleBuffer): a scalar out-param is a one-element array,
 *    written by C on success only.
 *  - `const float* const*` (blocks of PruneNet training) is a float[][], each inner array
 *    copied into C memory for the call; surgeon_mixed_stats.histogram reads as a long[].
 *    `const char*` arguments are copied too, so no JNI call follows the pinned arrays.
 *  - Callbacks: (surgeon_progress_fn, void*) and (surgeon_log_fn, void*) take the `long`
 *    of surgeon_jni_callback_new(listener) (0 removes the callback). The caller keeps it
 *    alive while any handle made from the context exists, then releases it with
 *    surgeon_jni_callback_free. While a callback may run, no array may be pinned (JNI
 *    forbids calling Java inside a critical region): pass direct buffers to such calls.
 */

%include <enumtypeunsafe.swg>
%javaconst(1);

/* The JNI library is loaded by NativeLoader (bindings/java: -Dsurgeon.jni.library, then
 * java.library.path, then the copy inside the jar). */
%pragma(java) jniclasscode=%{
  static {
    NativeLoader.load();
  }
%}

/* ---- JNI state cached at load time ----------------------------------------------- */

%{
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Classes and methods resolved once in JNI_OnLoad (global references, never released:
 * the library is never unloaded). */
enum { SURGEON_JNI_F32, SURGEON_JNI_U16, SURGEON_JNI_U8, SURGEON_JNI_I32, SURGEON_JNI_I64, SURGEON_JNI_F64,
       SURGEON_JNI_KINDS };
static JavaVM* surgeon_jni_vm;
static jclass surgeon_jni_exception_class;
static jmethodID surgeon_jni_exception_ctor;
static jclass surgeon_jni_array_class[SURGEON_JNI_KINDS];
static jclass surgeon_jni_buffer_class[SURGEON_JNI_KINDS];
static jmethodID surgeon_jni_progress_method;
static jmethodID surgeon_jni_log_method;


static jclass surgeon_jni_global_class(JNIEnv* env, const char* name) {
  jclass local = (*env)->FindClass(env, name);
  if (local == NULL) return NULL;
  jclass global = (jclass)(*env)->NewGlobalRef(env, local);
  (*env)->DeleteLocalRef(env, local);
  return global;
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM* vm, void* reserved) {
  static const char* arrays[SURGEON_JNI_KINDS] = {"[F", "[S", "[B", "[I", "[J", "[D"};
  static const char* buffers[SURGEON_JNI_KINDS] = {
      "java/nio/FloatBuffer", "java/nio/ShortBuffer", "java/nio/ByteBuffer",
      "java/nio/IntBuffer", "java/nio/LongBuffer", "java/nio/DoubleBuffer"};
  JNIEnv* env;
  jclass listener;
  int k;
  (void)reserved;
  if ((*vm)->GetEnv(vm, (void**)&env, JNI_VERSION_1_8) != JNI_OK) return JNI_ERR;
  surgeon_jni_vm = vm;
  for (k = 0; k < SURGEON_JNI_KINDS; ++k) {
    surgeon_jni_array_class[k] = surgeon_jni_global_class(env, arrays[k]);
    surgeon_jni_buffer_class[k] = surgeon_jni_global_class(env, buffers[k]);
    if (!surgeon_jni_array_class[k] || !surgeon_jni_buffer_class[k]) return JNI_ERR;
  }
  surgeon_jni_exception_class = surgeon_jni_global_class(env, "dev/surgeon/SurgeonException");
  if (!surgeon_jni_exception_class) return JNI_ERR;
  surgeon_jni_exception_ctor = (*env)->GetMethodID(env, surgeon_jni_exception_class, "<init>", "(I[B)V");
  listener = (*env)->FindClass(env, "dev/surgeon/jni/CallbackListener");
  if (!surgeon_jni_exception_ctor || !listener) return JNI_ERR;
  surgeon_jni_progress_method = (*env)->GetMethodID(env, listener, "progress", "(Ljava/lang/String;D)V");
  surgeon_jni_log_method = (*env)->GetMethodID(env, listener, "log", "(ILjava/lang/String;)V");
  (*env)->DeleteLocalRef(env, listener);
  if (!surgeon_jni_progress_method || !surgeon_jni_log_method) return JNI_ERR;
  return JNI_VERSION_1_8;
}

/* Throws SurgeonException(status, UTF-8 bytes of surgeon_last_error()) unless a Java
 * exception (OutOfMemoryError from pinning, say) is already pending. */
static void surgeon_jni_throw(JNIEnv* env, surgeon_status status) {
  const char* message;
  jsize length;
  jbyteArray bytes;
  jobject exception;
  if ((*env)->ExceptionCheck(env)) return;
  message = surgeon_last_error();
  length = (jsize)strlen(message);
  bytes = (*env)->NewByteArray(env, length);
  if (bytes == NULL) return; /* OutOfMemoryError pending */
  (*env)->SetByteArrayRegion(env, bytes, 0, length, (const jbyte*)message);
  exception = (*env)->NewObject(env, surgeon_jni_exception_class, surgeon_jni_exception_ctor,
                                (jint)status, bytes);
  if (exception != NULL) (*env)->Throw(env, (jthrowable)exception);
}

/* Address of a direct buffer of the right kind, or NULL with *pin set to an array of the
 * right kind (pinned later, in the check typemap, once no other JNI call is needed). */
static void* surgeon_jni_buffer(JNIEnv* env, jobject object, int kind, jarray* pin) {
  *pin = NULL;
  /* A pending exception (an earlier argument's OutOfMemoryError) allows no JNI call: NULL,
   * which C rejects, and the pending exception is what Java sees. */
  if (object == NULL || (*env)->ExceptionCheck(env)) return NULL;
  if ((*env)->IsInstanceOf(env, object, surgeon_jni_array_class[kind])) {
    *pin = (jarray)object;
    return NULL;
  }
  if ((*env)->IsInstanceOf(env, object, surgeon_jni_buffer_class[kind]))
    return (*env)->GetDirectBufferAddress(env, object); /* NULL for a heap buffer */
  return NULL;
}
%}

/* ---- status -> SurgeonException, out handle -> return value ---------------------- */

%typemap(jni) surgeon_status "jlong"
%typemap(jtype) surgeon_status "long"
%typemap(jstype) surgeon_status "long"
%typemap(javaout) surgeon_status { return $jnicall; }
%typemap(out) surgeon_status %{ $result = 0; %}
/* "ret" runs after every freearg: the pinned arrays are released before JNI is used. */
%typemap(ret) surgeon_status %{
  if ($1 != SURGEON_OK) {
    surgeon_jni_throw(jenv, $1);
    return $null;
  }
%}

/* A status passed in (surgeon_status_string) is a plain int. */
%typemap(jni) surgeon_status status "jint"
%typemap(jtype) surgeon_status status "int"
%typemap(jstype) surgeon_status status "int"
%typemap(javain) surgeon_status status "$javainput"
%typemap(in) surgeon_status status %{ $1 = (surgeon_status)$input; %}

/* New handles: the C value comes back as the function's `long` (untouched 0 on failure). */
%typemap(in, numinputs=0) SWIGTYPE **out ($*1_ltype handle = NULL) %{ $1 = &handle; %}
%typemap(argout) SWIGTYPE **out %{ $result = (jlong)(intptr_t)handle$argnum; %}

/* ---- handles as long addresses --------------------------------------------------- */

/* Opaque handles (const or not) are plain `long` addresses. Only the handle types named
 * here: SWIG cannot tell an opaque handle from a struct, and the structs of the companion
 * headers (options, statistics) keep SWIG's proxy classes. A handle type added to the C API
 * and not named here still works, as a SWIGTYPE_p_ wrapper. */
%define SURGEON_JAVA_HANDLE(TYPE)
%typemap(jni) TYPE *, const TYPE * "jlong"
%typemap(jtype) TYPE *, const TYPE * "long"
%typemap(jstype) TYPE *, const TYPE * "long"
%typemap(javain) TYPE *, const TYPE * "$javainput"
%typemap(javaout) TYPE *, const TYPE * { return $jnicall; }
%typemap(in) TYPE *, const TYPE * %{ $1 = ($1_ltype)(intptr_t)$input; %}
%typemap(out) TYPE *, const TYPE * %{ $result = (jlong)(intptr_t)$1; %}
%enddef

SURGEON_JAVA_HANDLE(surgeon_context)
SURGEON_JAVA_HANDLE(surgeon_hessian)
SURGEON_JAVA_HANDLE(surgeon_quantizer)
SURGEON_JAVA_HANDLE(surgeon_qresult)
SURGEON_JAVA_HANDLE(surgeon_mask)
SURGEON_JAVA_HANDLE(surgeon_solver)
SURGEON_JAVA_HANDLE(surgeon_importance)
SURGEON_JAVA_HANDLE(surgeon_prunenet)
SURGEON_JAVA_HANDLE(surgeon_model)
SURGEON_JAVA_HANDLE(surgeon_solver_options)
SURGEON_JAVA_HANDLE(surgeon_prune_options)
SURGEON_JAVA_HANDLE(surgeon_prune_result)
SURGEON_JAVA_HANDLE(surgeon_mixed_options)
SURGEON_JAVA_HANDLE(surgeon_structured_options)
SURGEON_JAVA_HANDLE(surgeon_generate_options)

/* Seeds are 64-bit patterns: a Java long, not a BigInteger. */
%apply int64_t { uint64_t };

/* ---- buffers: arrays (pinned) or direct NIO buffers, zero copy -------------------- */

/* Inputs (const) are released with JNI_ABORT, outputs with mode 0 (copies back if the VM
 * had to copy; HotSpot pins). The const and non-const forms are separate typemaps with
 * their own local names: SWIG does not rename a local shared by two forms of one typemap
 * when both occur in one function. */
%define SURGEON_JAVA_BUFFER_FORM(TYPE, KIND, PIN, MODE)
%typemap(jni) TYPE "jobject"
%typemap(jtype) TYPE "Object"
%typemap(jstype) TYPE "Object"
%typemap(javain) TYPE "$javainput"
%typemap(in) TYPE (jarray PIN)
%{ $1 = ($1_ltype)surgeon_jni_buffer(jenv, $input, KIND, &PIN); %}
%typemap(check) TYPE
%{ if (PIN$argnum) $1 = ($1_ltype)(*jenv)->GetPrimitiveArrayCritical(jenv, PIN$argnum, NULL); %}
%typemap(freearg) TYPE
%{ if (PIN$argnum && $1) (*jenv)->ReleasePrimitiveArrayCritical(jenv, PIN$argnum, (void*)$1, MODE); %}
%enddef

%define SURGEON_JAVA_BUFFER(CTYPE, KIND)
SURGEON_JAVA_BUFFER_FORM(const CTYPE *, KIND, pinned_in, JNI_ABORT)
SURGEON_JAVA_BUFFER_FORM(CTYPE *, KIND, pinned_out, 0)
%enddef

/* Every pointer to numbers is a buffer, scalar out-params included: a one-element array
 * (or buffer) receives the value, written by C on success only. */
SURGEON_JAVA_BUFFER(float, SURGEON_JNI_F32)
SURGEON_JAVA_BUFFER(uint16_t, SURGEON_JNI_U16)
SURGEON_JAVA_BUFFER(uint8_t, SURGEON_JNI_U8)
SURGEON_JAVA_BUFFER(int32_t, SURGEON_JNI_I32)
SURGEON_JAVA_BUFFER(int, SURGEON_JNI_I32)
SURGEON_JAVA_BUFFER(int64_t, SURGEON_JNI_I64)
SURGEON_JAVA_BUFFER(uint64_t, SURGEON_JNI_I64)
SURGEON_JAVA_BUFFER(double, SURGEON_JNI_F64)

/* Variable-length outputs (T* buf, size_t cap, size_t* needed): text is a byte[] (or a
 * direct ByteBuffer), cap a long and needed a one-element long[], like every other buffer. */
%apply uint8_t * { char *buf };
%apply int64_t * { size_t *needed };

/* ---- strings in ------------------------------------------------------------------ */

/* A `const char*` argument (paths, names, text) is copied out of the JVM and released at
 * once: SWIG's default releases it in freearg, which runs while later array arguments are
 * still pinned, and JNI allows no call inside a critical region (-Xcheck:jni warns). */
%typemap(in, noblock=1) const char * {
  $1 = NULL;
  if ($input) {
    const char* utf = (*jenv)->GetStringUTFChars(jenv, $input, NULL);
    size_t size;
    if (utf == NULL) return $null; /* OutOfMemoryError pending */
    size = strlen(utf) + 1;
    $1 = ($1_ltype)malloc(size);
    if ($1 != NULL) memcpy((char*)$1, utf, size);
    (*jenv)->ReleaseStringUTFChars(jenv, $input, utf);
    if ($1 == NULL) {
      jclass oom = (*jenv)->FindClass(jenv, "java/lang/OutOfMemoryError");
      if (oom != NULL) (*jenv)->ThrowNew(jenv, oom, "copying a string for the Surgeon C API");
      return $null;
    }
  }
}
%typemap(freearg, noblock=1) const char * { free((char*)$1); }

/* ---- arrays of float arrays (const float* const*) --------------------------------- */

/* float[][] (surgeon_prunenet_train_ffn's blocks): each inner array is copied into C memory
 * for the call, since JNI allows no other call while several arrays are pinned critically
 * (training dwarfs the copy). A null outer array passes NULL, a null inner array a NULL
 * block (both rejected by C). As for every buffer, the C dimensions are the caller's to
 * get right: the idiomatic layer checks the arrays' lengths. */
%{
static void surgeon_jni_free_float_arrays(float** table, jsize count) {
  jsize i;
  if (table == NULL) return;
  for (i = 0; i < count; ++i) free(table[i]);
  free(table);
}

/* A table of copies of the inner arrays, or NULL (a null array, or an OutOfMemoryError
 * now pending: C then fails on the NULL and the pending error is what Java sees). */
static float** surgeon_jni_float_arrays(JNIEnv* env, jobjectArray arrays, jsize* count) {
  jsize n, i, length;
  float** table;
  jfloatArray block;
  jclass oom;
  *count = 0;
  if (arrays == NULL || (*env)->ExceptionCheck(env)) return NULL;
  n = (*env)->GetArrayLength(env, arrays);
  table = (float**)calloc(n > 0 ? (size_t)n : 1, sizeof *table);
  for (i = 0; table != NULL && i < n; ++i) {
    block = (jfloatArray)(*env)->GetObjectArrayElement(env, arrays, i);
    if (block == NULL) continue;
    length = (*env)->GetArrayLength(env, block);
    table[i] = (float*)malloc(length > 0 ? (size_t)length * sizeof(float) : 1);
    if (table[i] == NULL) {
      surgeon_jni_free_float_arrays(table, n);
      table = NULL;
    } else {
      (*env)->GetFloatArrayRegion(env, block, 0, length, (jfloat*)table[i]);
    }
    (*env)->DeleteLocalRef(env, block);
  }
  if (table == NULL) {
    oom = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
    if (oom != NULL) (*env)->ThrowNew(env, oom, "copying float[][] for the Surgeon C API");
    return NULL;
  }
  *count = n;
  return table;
}
%}

%typemap(jni) const float *const * "jobjectArray"
%typemap(jtype) const float *const * "float[][]"
%typemap(jstype) const float *const * "float[][]"
%typemap(javain) const float *const * "$javainput"
%typemap(in) const float *const * (jsize count = 0)
%{ $1 = ($1_ltype)surgeon_jni_float_arrays(jenv, $input, &count); %}
%typemap(freearg) const float *const * %{ surgeon_jni_free_float_arrays((float**)$1, count$argnum); %}

/* ---- struct members -------------------------------------------------------------- */

/* surgeon_mixed_stats.histogram (int64_t[9]) is read as a long[] copy (an output struct:
 * read-only in Java). */
%immutable surgeon_mixed_stats::histogram;
%typemap(jni) int64_t histogram[ANY] "jlongArray"
%typemap(jtype) int64_t histogram[ANY] "long[]"
%typemap(jstype) int64_t histogram[ANY] "long[]"
%typemap(javaout) int64_t histogram[ANY] { return $jnicall; }
%typemap(out) int64_t histogram[ANY] %{
  $result = (*jenv)->NewLongArray(jenv, $1_dim0);
  if ($result != NULL) (*jenv)->SetLongArrayRegion(jenv, $result, 0, $1_dim0, (const jlong*)$1);
%}

/* ---- callbacks ------------------------------------------------------------------- */

%{
/* A Java CallbackListener held by a global reference; user pointer of the C callbacks. */
typedef struct surgeon_jni_listener { jobject target; } surgeon_jni_listener;

/* Runs on the thread that made the C call, an attached Java thread; an exception thrown by
 * the listener is cleared: it must not stay pending across the C library's frames. */
static JNIEnv* surgeon_jni_callback_env(void) {
  JNIEnv* env;
  if ((*surgeon_jni_vm)->GetEnv(surgeon_jni_vm, (void**)&env, JNI_VERSION_1_8) != JNI_OK) return NULL;
  return (*env)->ExceptionCheck(env) ? NULL : env;
}

static void surgeon_jni_progress(void* user, const char* stage, double fraction) {
  JNIEnv* env = surgeon_jni_callback_env();
  jstring text;
  if (env == NULL) return;
  text = (*env)->NewStringUTF(env, stage ? stage : "");
  if (text != NULL)
    (*env)->CallVoidMethod(env, ((surgeon_jni_listener*)user)->target, surgeon_jni_progress_method,
                           text, (jdouble)fraction);
  (*env)->ExceptionClear(env);
  if (text != NULL) (*env)->DeleteLocalRef(env, text);
}

static void surgeon_jni_log(void* user, surgeon_log_level level, const char* message) {
  JNIEnv* env = surgeon_jni_callback_env();
  jstring text;
  if (env == NULL) return;
  text = (*env)->NewStringUTF(env, message ? message : "");
  if (text != NULL)
    (*env)->CallVoidMethod(env, ((surgeon_jni_listener*)user)->target, surgeon_jni_log_method,
                           (jint)level, text);
  (*env)->ExceptionClear(env);
  if (text != NULL) (*env)->DeleteLocalRef(env, text);
}
%}

%typemap(jni) (surgeon_progress_fn fn, void* user), (surgeon_log_fn fn, void* user) "jlong"
%typemap(jtype) (surgeon_progress_fn fn, void* user), (surgeon_log_fn fn, void* user) "long"
%typemap(jstype) (surgeon_progress_fn fn, void* user), (surgeon_log_fn fn, void* user) "long"
%typemap(javain) (surgeon_progress_fn fn, void* user), (surgeon_log_fn fn, void* user) "$javainput"
%typemap(in) (surgeon_progress_fn fn, void* user)
%{ $1 = $input ? surgeon_jni_progress : NULL; $2 = (void*)(intptr_t)$input; %}
%typemap(in) (surgeon_log_fn fn, void* user)
%{ $1 = $input ? surgeon_jni_log : NULL; $2 = (void*)(intptr_t)$input; %}

/* Listener handles for the functions above (not part of libsurgeon). */
%typemap(jni) surgeon_jni_listener_handle "jlong"
%typemap(jtype) surgeon_jni_listener_handle "long"
%typemap(jstype) surgeon_jni_listener_handle "long"
%typemap(javain) surgeon_jni_listener_handle "$javainput"
%typemap(javaout) surgeon_jni_listener_handle { return $jnicall; }
%typemap(in) surgeon_jni_listener_handle %{ $1 = (surgeon_jni_listener_handle)$input; %}
%typemap(out) surgeon_jni_listener_handle %{ $result = (jlong)$1; %}

%inline %{
typedef intptr_t surgeon_jni_listener_handle;

/* A listener for surgeon_context_set_progress / _set_log (0 if out of memory). */
surgeon_jni_listener_handle surgeon_jni_callback_new(jobject listener) {
  JNIEnv* env;
  surgeon_jni_listener* l;
  if (listener == NULL) return 0;
  if ((*surgeon_jni_vm)->GetEnv(surgeon_jni_vm, (void**)&env, JNI_VERSION_1_8) != JNI_OK) return 0;
  l = (surgeon_jni_listener*)malloc(sizeof *l);
  if (l == NULL) return 0;
  l->target = (*env)->NewGlobalRef(env, listener);
  if (l->target == NULL) {
    free(l);
    return 0;
  }
  return (surgeon_jni_listener_handle)l;
}

/* Releases a listener once no C handle can call it any more. Accepts 0. */
void surgeon_jni_callback_free(surgeon_jni_listener_handle handle) {
  JNIEnv* env;
  surgeon_jni_listener* l = (surgeon_jni_listener*)handle;
  if (l == NULL) return;
  if ((*surgeon_jni_vm)->GetEnv(surgeon_jni_vm, (void**)&env, JNI_VERSION_1_8) == JNI_OK)
    (*env)->DeleteGlobalRef(env, l->target);
  free(l);
}
%}

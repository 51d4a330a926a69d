# Finds what the Java binding (bindings/java) and its sample (samples/java) need and sets in
# the including directory's scope:
#   SURGEON_JAVA_OK        TRUE when swig 4, a JDK >= 17 with JNI headers and JUnit 5 exist
#   SURGEON_JAVA_JAR       the binding's jar (built by target surgeon_java in bindings/java)
#   SURGEON_JUNIT_CONSOLE  junit-platform-console-standalone.jar (Debian junit5)
#   SURGEON_JAVA_RUN       the java command line prefix: the JNI library and fixtures as
#                          system properties; in the sanitized build the ASan runtime is
#                          preloaded (java itself is not instrumented)
set(SURGEON_JAVA_OK FALSE)
find_package(Java 17 COMPONENTS Runtime Development QUIET)
find_package(JNI QUIET)
find_package(SWIG 4 QUIET)
find_file(SURGEON_JUNIT_CONSOLE junit-platform-console-standalone.jar PATHS /usr/share/java NO_DEFAULT_PATH)
if(NOT Java_FOUND OR NOT JAVA_INCLUDE_PATH OR NOT JAVA_INCLUDE_PATH2 OR NOT SWIG_FOUND)
  set(SURGEON_JAVA_MISSING "swig 4 and a JDK >= 17 (apt-get install swig openjdk-17-jdk-headless)")
  return()
endif()
if(NOT SURGEON_JUNIT_CONSOLE)
  set(SURGEON_JAVA_MISSING "JUnit 5 (apt-get install junit5)")
  return()
endif()
set(SURGEON_JAVA_OK TRUE)
set(SURGEON_JAVA_JAR ${PROJECT_BINARY_DIR}/bindings/java/surgeon.jar)
set(SURGEON_JAVA_RUN ${Java_JAVA_EXECUTABLE}
    -Dsurgeon.jni.library=${PROJECT_BINARY_DIR}/lib/libsurgeon_jni.so
    -Dsurgeon.fixtures=${PROJECT_SOURCE_DIR}/tests/fixtures
    -Dsurgeon.include=${PROJECT_SOURCE_DIR}/include
    # JNI misuse (a callback while an array is pinned, ...) is reported, not ignored.
    -Xcheck:jni)
set(SURGEON_JAVA_ENV "")
if(SURGEON_SANITIZE)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE _surgeon_libasan OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libstdc++.so.6
                  OUTPUT_VARIABLE _surgeon_libstdcxx OUTPUT_STRIP_TRAILING_WHITESPACE)
  # libstdc++ is preloaded too: java does not link it, and ASan's __cxa_throw interceptor
  # aborts on the library's first exception if the real one was not found at start-up.
  # The JVM uses SIGSEGV itself (null checks, safepoints): ASan must leave it alone.
  # LeakSanitizer cannot stop the JVM's threads ("Tracer caught signal 11"), so leaks of
  # handles are checked by counting (LifecycleTest), memory errors by ASan.
  set(SURGEON_JAVA_ENV "LD_PRELOAD=${_surgeon_libasan}:${_surgeon_libstdcxx}"
      "ASAN_OPTIONS=handle_segv=0:allow_user_segv_handler=1:detect_leaks=0")
endif()
